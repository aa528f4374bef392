"""`sentiment`: scores each stored message with a small built-in lexicon and emits its own event,
``sentiment.scored`` ``{message_id, sequence, sender_id, score, label}``, for other extensions.

The scorer is a pure function in the style of VADER (Hutto and Gilbert, 2014), much reduced: about
a hundred words with a valence from -4 to +4, negation ("not good", "isn't bad") within three words
and up to the next comma, intensifiers ("very good") and dampeners ("slightly annoying"), and a
contrast ("ok but slow" counts the part after "but" more). The sum is squashed into [-1, 1]. No
network, no model, no dependency: it is a signal for other extensions, not a verdict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from parley.catalog import Envelope, MessageStored
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension

Label = Literal["negative", "neutral", "positive"]

LEXICON: dict[str, float] = {
    # positive
    "good": 1.9, "great": 3.1, "excellent": 3.2, "awesome": 3.1, "amazing": 2.8, "love": 3.2,
    "loved": 2.9, "loves": 2.7, "lovely": 2.8, "nice": 1.8, "happy": 2.7, "glad": 2.0,
    "thanks": 1.9, "thank": 1.5, "helpful": 1.8, "perfect": 2.7, "fantastic": 2.6,
    "wonderful": 2.7, "brilliant": 2.8, "cool": 1.3, "fun": 2.3, "enjoy": 2.2, "enjoyed": 2.3,
    "pleased": 1.9, "beautiful": 2.9, "best": 3.2, "better": 1.9, "win": 2.8, "yay": 2.4,
    "agree": 1.5, "easy": 1.9, "positive": 2.6, "success": 2.7, "successful": 2.8,
    "impressive": 2.5, "recommend": 1.5, "welcome": 2.0, "excited": 1.4, "exciting": 2.2,
    "calm": 1.3, "safe": 1.9, "fine": 0.8, "ok": 0.9, "okay": 0.9, "smart": 1.7, "proud": 2.1,
    "lucky": 1.8, "hope": 1.9, "favorite": 2.0, "superb": 3.1, "appreciate": 1.7,
    "appreciated": 2.0, "congrats": 2.4, "congratulations": 2.9, "wow": 2.8, "fixed": 1.0,
    # negative
    "bad": -2.5, "terrible": -2.1, "awful": -2.0, "horrible": -2.5, "hate": -2.7, "hated": -3.2,
    "hates": -1.9, "sad": -2.1, "angry": -2.3, "annoying": -1.7, "annoyed": -1.6, "boring": -1.3,
    "bored": -1.1, "broken": -1.4, "wrong": -2.1, "worse": -2.1, "worst": -3.1, "fail": -2.5,
    "failed": -2.3, "failure": -2.3, "problem": -1.7, "problems": -1.7, "slow": -1.0,
    "ugly": -2.3, "stupid": -2.4, "useless": -1.8, "disappointed": -1.9, "disappointing": -2.2,
    "poor": -2.1, "unhappy": -1.8, "upset": -1.6, "worried": -1.2, "afraid": -2.2,
    "scary": -2.2, "pain": -2.3, "painful": -1.9, "sorry": -0.3, "lost": -1.3, "lose": -1.7,
    "crash": -1.7, "crashed": -1.7, "mess": -1.5, "confusing": -0.9, "confused": -1.3,
    "frustrating": -1.9, "frustrated": -1.7, "ridiculous": -1.6, "nasty": -2.6, "rude": -2.0,
    "sucks": -1.5, "meh": -0.6, "ugh": -1.8, "disgusting": -2.4, "hurt": -2.4, "tired": -1.9,
    "error": -1.2, "dislike": -1.6, "unfortunately": -1.5,
    # emoticons and emoji
    ":)": 2.0, ":-)": 2.0, ":d": 2.3, ";)": 1.5, ":(": -1.9, ":-(": -1.9,
    "🙂": 1.9, "😀": 2.3, "😊": 2.2, "😃": 2.3, "😄": 2.3, "❤": 2.9, "👍": 1.9, "🎉": 2.3,
    "🙁": -1.9, "😞": -2.1, "😢": -2.2, "😭": -2.4, "😡": -2.6, "👎": -1.9, "💔": -2.4,
}  # fmt: skip

NEGATORS = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot", "hardly"}
)
INTENSIFIERS = frozenset(
    {"very", "really", "so", "extremely", "super", "totally", "absolutely", "incredibly", "truly", "most"}
)
DAMPENERS = frozenset({"slightly", "somewhat", "barely", "kinda", "sorta", "fairly", "bit", "little"})

NEGATION = -0.74
"""A negated word keeps most of its strength with the opposite sign ("not good" is less than "bad")."""
NEGATION_WINDOW = 3
INTENSIFY, DAMPEN = 1.3, 0.7
BEFORE_BUT, AFTER_BUT = 0.5, 1.5
ALPHA = 15.0
"""score = sum / sqrt(sum^2 + ALPHA): one "good" is 0.44, "great" 0.62, "very good, great" 0.81."""
NEUTRAL_BAND = 0.05

TOKEN = re.compile(r"[:;]-?[()d]|[a-z]+(?:'[a-z]+)*|[.,!?;]|[\u2600-\u27bf\U0001f300-\U0001faff]")


@dataclass(frozen=True)
class Sentiment:
    score: float
    label: Label


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower().replace("\u2019", "'"))


def _sentence(valences: list[float], but_at: int | None) -> float:
    if but_at is None:
        return sum(valences)
    return sum(v * (BEFORE_BUT if i < but_at else AFTER_BUT) for i, v in enumerate(valences))


def score(text: str) -> Sentiment:
    """The text's sentiment: a score in [-1, 1] and its label (neutral within +-0.05)."""
    total = 0.0
    valences: list[float] = []
    but_at: int | None = None
    negated = 0  # words still under a negation
    weight = 1.0  # an intensifier or dampener waiting for its word
    for token in tokens(text):
        if token in ".!?":
            total += _sentence(valences, but_at)
            valences, but_at, negated, weight = [], None, 0, 1.0
        elif token in ",;":
            negated, weight = 0, 1.0
        elif token == "but":
            but_at, negated, weight = len(valences), 0, 1.0
        elif token in NEGATORS or token.endswith("n't"):
            negated = NEGATION_WINDOW
        elif token in INTENSIFIERS:
            weight = INTENSIFY
        elif token in DAMPENERS:
            weight = DAMPEN
        else:
            valence = LEXICON.get(token)
            if valence is not None:
                valences.append(valence * weight * (NEGATION if negated else 1.0))
            weight = 1.0
            negated = max(0, negated - 1)
    total += _sentence(valences, but_at)
    value = round(total / math.sqrt(total * total + ALPHA), 4)
    label: Label = (
        "positive" if value >= NEUTRAL_BAND else "negative" if value <= -NEUTRAL_BAND else "neutral"
    )
    return Sentiment(value, label)


extension: Extension[Any] = Extension(
    Manifest(
        id="sentiment",
        version="1.0.0",
        name="Sentiment",
        description="Scores each message's sentiment with a built-in lexicon and emits sentiment.scored.",
        events=("MessageStored",),
        emits=("sentiment.scored",),
        capabilities=frozenset({"events:emit"}),
    )
)


@extension.on("MessageStored")
def scored(event: Envelope[Any], ctx: Context[Any]) -> None:
    stored: MessageStored = event.data
    message = stored.message
    if message.sender_kind == "extension":
        return  # bots' messages (a greeting, another extension's report) say nothing about the chat
    result = score(message.text)
    ctx.emit(
        "sentiment.scored",
        {
            "message_id": message.message_id,
            "sequence": message.sequence,
            "sender_id": message.sender_id,
            "score": result.score,
            "label": result.label,
        },
    )
