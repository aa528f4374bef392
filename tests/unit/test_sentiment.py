"""The sentiment extension's scorer: a pure function of the text."""

from __future__ import annotations

import pytest

from parley.extensions.builtin import sentiment
from parley.extensions.builtin.sentiment import LEXICON, score, tokens


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is great, thanks!", "positive"),
        ("I love it", "positive"),
        ("Nice work 👍", "positive"),
        ("see you at 5", "neutral"),
        ("", "neutral"),
        ("The build is broken again. Useless.", "negative"),
        ("I hate this, it's awful", "negative"),
        ("that was a bit disappointing :(", "negative"),
    ],
)
def test_clear_cases_get_their_label(text: str, label: str) -> None:
    assert score(text).label == label


def test_a_neutral_text_scores_zero() -> None:
    assert score("The meeting moved to room 4.").score == 0.0


@pytest.mark.parametrize(
    ("negated", "plain"),
    [("not good", "good"), ("isn't bad", "bad"), ("never happy", "happy"), ("no problem", "problem")],
)
def test_negation_flips_the_sign_with_less_strength(negated: str, plain: str) -> None:
    # Given a word and the same word negated
    flipped, original = score(negated).score, score(plain).score

    # Then the negation has the opposite sign and is weaker than the plain word
    assert flipped * original < 0
    assert abs(flipped) < abs(original)


def test_negation_reaches_three_words_and_stops_at_a_comma() -> None:
    assert score("not a very good idea").label == "negative"
    assert score("not bad, great").label == "positive"
    assert score("not bad, great").score > score("not bad").score


def test_intensifiers_and_dampeners_scale_a_word() -> None:
    assert score("very good").score > score("good").score > score("slightly good").score > 0
    assert score("really bad").score < score("bad").score < score("somewhat bad").score < 0


def test_what_follows_but_counts_more() -> None:
    assert score("It was ok but slow").label == "negative"
    assert score("It was slow but great").label == "positive"


def test_more_positive_words_score_higher_and_never_leave_the_range() -> None:
    one, many = score("good"), score("good great excellent amazing awesome love " * 20)
    assert 0 < one.score < many.score <= 1
    assert -1 <= score("bad awful terrible horrible " * 50).score < 0


def test_case_curly_apostrophes_and_emoticons_are_understood() -> None:
    assert tokens("GREAT, isn\u2019t it :)") == ["great", ",", "isn't", "it", ":)"]
    assert score("GREAT").score == score("great").score
    assert score("isn\u2019t good").label == "negative"


def test_the_lexicon_is_small_and_within_the_valence_scale() -> None:
    assert 100 <= len(LEXICON) <= 200
    assert all(-4 <= v <= 4 and v != 0 for v in LEXICON.values())


def test_the_manifest_emits_its_own_event_with_the_capability_it_needs() -> None:
    manifest = sentiment.extension.manifest
    assert manifest.emits == ("sentiment.scored",)
    assert manifest.capabilities == frozenset({"events:emit"})
    assert manifest.events == ("MessageStored",)
