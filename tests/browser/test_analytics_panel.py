"""After a short conversation on the local stack, a member opens the chat's analytics panel, downloads
the CSV, and every number the panel shows is the CSV's."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import User

NewUser = Callable[[str], User]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def a_short_conversation(new_user: NewUser) -> tuple[User, User]:
    """Alice's chat with Bob and the AI Sage, and a few messages, one of them answered by Sage."""
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Quiz night", ai_name="Sage")
    chat_id = alice.chat_id
    bob = new_user("Bob")
    bob.sign_in()
    bob.join(chat_id)
    bob.wait_for_chat("Quiz night")
    alice.send("Hello Bob, ready for the quiz?")
    expect(bob.message("ready for the quiz")).to_be_visible()
    bob.send("Ready!")
    expect(alice.message("Ready!")).to_be_visible()
    alice.send("@Sage give us a riddle")
    expect(alice.page.locator("[data-testid=message][data-sender-id=sage]")).to_have_count(1)
    return alice, bob


def assert_every_shown_number_is_exported(panel: Locator, exported: dict[tuple[str, str, str], str]) -> None:
    """As exported and as read on the screen."""
    shown_values = panel.get_by_test_id("metric").evaluate_all(
        """items => items.map(item => ({section: item.dataset.section, subject: item.dataset.subject,
             metric: item.dataset.metric, value: item.dataset.value, unit: item.dataset.unit,
             text: item.textContent}))"""
    )
    assert len(shown_values) >= 15, shown_values
    for item in shown_values:
        key = (item["section"], item["subject"], item["metric"])
        assert key in exported, key
        # JSON's 50.0 is JavaScript's 50: the same number
        assert item["value"] == exported[key] or float(item["value"]) == float(exported[key]), (key, item)
        if exported[key] == "":
            assert item["text"] == "\u2013", item  # an en dash: no value yet
            continue
        on_screen = float(NUMBER.findall(item["text"])[0])
        expected = float(exported[key])
        if item["unit"] == "%":  # a ratio, shown as a percentage with one decimal
            expected = round(expected * 100, 1)
        assert on_screen == expected, (key, item, exported[key])


def assert_summary_is_for_operators(page: Page, base: str) -> None:
    """The local sign-in can issue an operator's token."""
    request = page.request
    for groups, status in (([], 403), (["operators"], 200)):
        token = request.post(
            f"{base}/local/token",
            data=json.dumps({"user_id": "olga", "name": "Olga", "groups": groups}),
            headers={"content-type": "application/json"},
        ).json()["token"]
        summary = request.get(f"{base}/analytics/summary", headers={"Authorization": f"Bearer {token}"})
        assert summary.status == status, summary.text()
    assert summary.json()["totals"]["messages"] >= 4


def test_the_panel_shows_the_numbers_of_the_csv(new_user: NewUser, artifacts: Path) -> None:
    # Given Alice's chat with Bob and the AI Sage, and a few messages, one of them answered by Sage
    alice, bob = a_short_conversation(new_user)
    chat_id = alice.chat_id

    # When Alice opens the analytics panel and it has caught up with the conversation
    page = alice.page
    page.get_by_test_id("analytics-button").click()
    panel = page.get_by_test_id("analytics-panel")
    expect(panel).to_be_visible()

    def shown(section: str, name: str, subject: str = "") -> str:
        return (
            f'[data-testid=metric][data-section="{section}"][data-subject="{subject}"][data-metric="{name}"]'
        )

    expect(panel.locator(shown("messages", "count"))).to_have_attribute("data-value", "4", timeout=20_000)
    expect(panel.locator(shown("ai.response_time_ms", "p50"))).not_to_have_attribute(
        "data-value", "", timeout=20_000
    )
    expect(panel.locator(shown("engagement", "active_participants"))).to_have_text("3")
    expect(panel.get_by_test_id("chart-participants")).to_be_visible()
    expect(panel.get_by_test_id("chart-ai")).to_be_visible()
    expect(panel.get_by_test_id("analytics-period")).to_contain_text("kept 90 days")

    # And downloads the CSV (the panel refreshes with it)
    with page.expect_download() as download_info:
        panel.get_by_test_id("analytics-csv").click()
    download = download_info.value
    assert download.suggested_filename == f"parley-analytics-{chat_id}.csv"
    text = Path(download.path()).read_bytes().decode()  # as saved: CRLF line ends kept
    expect(panel).to_have_attribute("data-state", "ready")

    # Then every number the panel shows is the CSV's, as exported and as read on the screen
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert text.startswith("section,subject,metric,value\r\n")
    exported = {(r["section"], r["subject"], r["metric"]): r["value"] for r in rows}
    assert exported[("messages", "", "count")] == "4"
    assert_every_shown_number_is_exported(panel, exported)
    people = {
        r["subject"]: r["value"]
        for r in rows
        if r["section"] == "engagement.participants" and r["metric"] == "messages"
    }
    assert sorted(people.values()) == ["1", "1", "2"]
    page.screenshot(path=artifacts / "browser-analytics.png")

    # And the summary is for operators only
    assert_summary_is_for_operators(page, alice.base)
    assert alice.errors == []
    assert bob.errors == []
