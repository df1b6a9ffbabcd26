"""The token lens's plain data: tokens with their log-probabilities, confidence, and their compact storage.

A :class:`Token` is one piece of an answer with the model's log-probability for it
and its ``top`` alternatives (most likely first), as OpenAI's chat ``logprobs``
return them and as the local model computes them (``workbench/providers/_logits.py``).

Confidence, the documented definition (:func:`confidence`): the arithmetic mean of
the answer tokens' probabilities ``exp(logprob)``, over every token of the first
choice (whitespace included), with ``.min`` (the least likely token: where the
answer was most uncertain), ``.first`` (the first token, which for a one-word
label answer is the label's probability) and ``.joint`` (the whole answer's
probability, the product). The mean is used because the product shrinks with
length, so it cannot compare a short answer with a long one.

Storage is compact: one JSON array per choice of ``[text, logprob, [[alt, logprob], ...]]``
with log-probabilities rounded to 3 decimals (0.1 % relative error in a
probability), about 60 bytes a token with five alternatives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import TokensError

__all__ = ["Token", "Confidence", "TokensError", "TOKEN_PARAMS", "confidence", "encode_tokens", "decode_tokens",
           "at_temperature", "token_from_openai", "tokens_from_openai", "visible"]

#: The parameters that ask for tokens (set by a "Tokens" toggle rather than a slider).
TOKEN_PARAMS = ("logprobs", "top_logprobs")
_DIGITS = 3


@dataclass(frozen=True)
class Token:
    """One answer token: its ``text``, ``logprob`` (natural log) and ``top`` alternatives (most likely first)."""

    text: str
    logprob: float
    top: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    @property
    def prob(self) -> float:
        """The token's probability, 0..1."""
        return math.exp(self.logprob)

    def alternatives(self) -> list[tuple[str, float]]:
        """``(text, probability)`` of the top alternatives, most likely first (the token itself among them)."""
        return [(text, math.exp(lp)) for text, lp in self.top]

    def __repr__(self) -> str:
        return f"Token(text={self.text!r}, logprob={self.logprob:.3f}, top={list(self.top)!r})"


class Confidence(float):
    """Mean token probability of an answer (a float), with ``min``, ``first``, ``joint`` and ``n`` tokens."""

    min: float
    first: float
    joint: float
    n: int

    def __new__(cls, mean: float, *, min: float, first: float, joint: float, n: int) -> Confidence:
        self = super().__new__(cls, mean)
        self.min, self.first, self.joint, self.n = min, first, joint, n
        return self

    @property
    def mean(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return (f"Confidence(mean={float(self):.3f}, min={self.min:.3f}, first={self.first:.3f}, "
                f"joint={self.joint:.3g}, n={self.n})")


def confidence(tokens: Sequence[Token] | None) -> Confidence | None:
    """The :class:`Confidence` of ``tokens`` (``None`` without tokens). See the module docstring."""
    if not tokens:
        return None
    probs = [t.prob for t in tokens]
    return Confidence(sum(probs) / len(probs), min=min(probs), first=probs[0],
                      joint=math.exp(sum(t.logprob for t in tokens)), n=len(probs))


def at_temperature(token: Token, temperature: float) -> list[tuple[str, float]]:
    """The distribution over ``token``'s alternatives re-computed at ``temperature``.

    Softmax of ``logprob / temperature`` over the alternatives shown (so it sums to 1
    over them, not over the whole vocabulary); temperature 0 puts everything on the
    most likely one, as greedy decoding does. Ties keep their order.
    """
    top = list(token.top) or [(token.text, token.logprob)]
    if temperature < 0 or not math.isfinite(temperature):
        raise TokensError(f"temperature={temperature!r} cannot be used. Fix: pass a temperature from 0 to 2.")
    if temperature == 0:
        best = max(range(len(top)), key=lambda i: top[i][1])
        return [(text, 1.0 if i == best else 0.0) for i, (text, _) in enumerate(top)]
    scaled = [lp / temperature for _, lp in top]
    peak = max(scaled)
    weights = [math.exp(s - peak) for s in scaled]
    total = sum(weights)
    return [(text, w / total) for (text, _), w in zip(top, weights, strict=True)]


# --- storage: compact JSON -------------------------------------------------------
def encode_tokens(choices: Sequence[Sequence[Token] | None] | None) -> str | None:
    """``[[text, logprob, [[alt, logprob], ...]], ...]`` per choice, as compact JSON (``None`` if none)."""
    if not choices or all(c is None for c in choices):
        return None
    data = [None if c is None else [[t.text, round(t.logprob, _DIGITS),
                                     [[a, round(lp, _DIGITS)] for a, lp in t.top]] for t in c] for c in choices]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def decode_tokens(text: str | None) -> list[list[Token] | None] | None:
    """The inverse of :func:`encode_tokens`."""
    if not text:
        return None
    return [None if c is None else [Token(t[0], float(t[1]), tuple((a, float(lp)) for a, lp in t[2])) for t in c]
            for c in json.loads(text)]


# --- OpenAI's wire shape (also Mistral's: token, logprob, top_logprobs) ------------
def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def token_from_openai(item: Any) -> Token:
    """One ``logprobs.content`` entry (an SDK object or a dict) as a :class:`Token`."""
    top = tuple((str(_field(a, "token")), float(_field(a, "logprob"))) for a in (_field(item, "top_logprobs") or ()))
    return Token(str(_field(item, "token")), float(_field(item, "logprob")), top)


def tokens_from_openai(logprobs: Any) -> list[Token] | None:
    """A choice's ``logprobs`` (``{"content": [...]}``) as tokens; ``None`` when the server sent none."""
    if logprobs is None:
        return None
    content = _field(logprobs, "content")
    if content is None:
        return None
    return [token_from_openai(item) for item in content]


# --- showing whitespace -------------------------------------------------------------
_VISIBLE = {" ": "·", "\n": "↵\n", "\t": "→"}


def visible(text: str) -> str:
    """``text`` with spaces, newlines and tabs made visible (· ↵ →), for showing token boundaries."""
    return "".join(_VISIBLE.get(ch, ch) for ch in text)


def join_texts(tokens: Iterable[Token]) -> str:
    return "".join(t.text for t in tokens)
