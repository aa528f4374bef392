"""Write-only config settings (secrets) as pure decisions: what members see, what a PUT keeps."""

from __future__ import annotations

from parley.catalog import ExtensionConfigChanged, ExtensionInstalled
from parley.domain import extensions as ext
from parley.extensions.builtin import webhook
from parley.services.extensions import write_only
from tests.unit.chats import OWNER, at, new_chat

SECRETS = frozenset({"secret"})
CONFIG = {"url": "https://example.com/hook", "secret": "s3cret-s3cret-s3cret", "events": ["MessageStored"]}


def test_write_only_settings_come_from_the_config_schema() -> None:
    assert write_only(webhook.extension.manifest.document()) == SECRETS
    assert write_only(None) == frozenset()


def test_redact_hides_each_secret_that_is_set_and_nothing_else() -> None:
    assert ext.redact(CONFIG, SECRETS) == CONFIG | {"secret": "********"}
    assert ext.redact({"url": "u"}, SECRETS) == {"url": "u"}  # nothing to hide, nothing added
    assert ext.redact(CONFIG, frozenset()) == CONFIG


def test_a_secret_sent_back_redacted_keeps_the_stored_one() -> None:
    sent = {"url": "https://example.com/new", "secret": ext.REDACTED}
    assert ext.keep_secrets(sent, CONFIG, SECRETS) == {
        "url": "https://example.com/new",
        "secret": "s3cret-s3cret-s3cret",
    }
    # a new secret replaces it; with nothing stored the placeholder stays (the service refuses it)
    assert ext.keep_secrets(CONFIG | {"secret": "n" * 16}, CONFIG, SECRETS)["secret"] == "n" * 16
    assert ext.keep_secrets(sent, {}, SECRETS)["secret"] == ext.REDACTED
    # a setting that is not write-only is taken as sent, even if it looks redacted
    assert ext.keep_secrets({"url": ext.REDACTED}, CONFIG, SECRETS) == {"url": ext.REDACTED}


def test_life_cycle_events_carry_the_config_redacted_and_the_install_keeps_it() -> None:
    # Given a chat, when a moderator installs the webhook, then changes its secret
    installed = ext.put_install(
        new_chat("free"),
        user_id=OWNER,
        extension_id="webhook",
        version="1.0.0",
        enabled=True,
        config=CONFIG,
        now=at(5),
        secret_fields=SECRETS,
    )
    rotated = ext.put_install(
        installed.chat,
        user_id=OWNER,
        extension_id="webhook",
        version="1.0.0",
        enabled=True,
        config=CONFIG | {"secret": "rotated-rotated-rotated"},
        now=at(6),
        secret_fields=SECRETS,
    )

    # Then the announcements show ******** while the install holds the real values
    first = installed.events[0]
    assert isinstance(first, ExtensionInstalled)
    assert first.config["secret"] == "********"
    assert installed.chat.extensions["webhook"].config == CONFIG
    [changed] = rotated.events
    assert isinstance(changed, ExtensionConfigChanged)
    assert changed.config == CONFIG | {"secret": "********"}
    assert rotated.chat.extensions["webhook"].config["secret"] == "rotated-rotated-rotated"
