"""Token log-probabilities from llama.cpp, the cheap way, and continuing an answer from a forced prefix.

llama-cpp-python computes ``logprobs`` only for a model loaded with
``logits_all=True``, which keeps the logits of *every* position (prompt
included: n_ctx x 49,152 floats) and makes each prompt's evaluation output all
of them. Generated tokens need none of that: when a token is sampled, its
position's logits are already in hand. So :class:`LogprobCapture` is a
``logits_processor``: llama.cpp hands it the raw logits of each position just
before sampling; it keeps the log-normaliser and the top-k token ids and, one
step later, reads which token was chosen (the last input id). Measured on
SmolLM2: tokens/s with ``top_logprobs=5`` is within a few percent of without
(``python -m benchmarks``).

The probabilities are the model's own distribution at temperature 1, before
top-p, penalties and temperature reshape it for sampling (what OpenAI reports too),
so the temperature view can re-shape them itself.

A request whose messages end with an assistant message is *continued*: the
chat template renders the messages before it with the assistant's turn opened,
the assistant text is appended verbatim, and generation goes on from there.
That is how a token view branches ("what if it had said X?").
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._tokens import Token

__all__ = ["LogprobCapture", "open_stream", "split_text"]


class LogprobCapture:
    """A ``logits_processor`` that records each generated token's log-probability and top alternatives."""

    def __init__(self, llama: Any, top: int) -> None:
        self.llama = llama
        self.top = max(int(top), 0)
        self.rows: list[tuple[int, float, np.ndarray, np.ndarray]] = []  # (id, logprob, top ids, top logprobs)
        self._pending: tuple[np.ndarray, float, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_call(cls, llama: Any, call: dict[str, Any]) -> LogprobCapture | None:
        """Take ``logprobs``/``top_logprobs`` out of ``call`` (llama.cpp would refuse them) and hook a capture in."""
        wanted = call.pop("logprobs", None)
        top = call.pop("top_logprobs", None)
        if not wanted:
            return None
        capture = cls(llama, top or 0)
        call["logits_processor"] = [capture]
        return capture

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        if self._pending is not None and len(input_ids):
            self._settle(int(input_ids[-1]))
        peak = float(logits.max())
        norm = peak + math.log(float(np.exp(logits - peak).sum()))
        if self.top:
            ids = np.argpartition(logits, -self.top)[-self.top:]
            ids = ids[np.argsort(-logits[ids], kind="stable")]
            top_lp = logits[ids].astype(np.float64) - norm
        else:
            ids, top_lp = np.empty(0, dtype=np.intc), np.empty(0)
        self._pending = (logits.copy(), norm, ids, top_lp)
        return logits

    def _settle(self, token: int) -> None:
        assert self._pending is not None
        logits, norm, ids, top_lp = self._pending
        self.rows.append((token, float(logits[token]) - norm, ids, top_lp))
        self._pending = None

    def tokens(self, text: str) -> list[Token]:
        """The generated tokens, their texts joined equal to ``text`` (the answer as returned)."""
        llama = self.llama
        if self._pending is not None:  # the last sampled token was never fed back: find it from the text
            done = b"".join(llama.detokenize([row[0]]) for row in self.rows)
            rest = text.encode("utf-8")[len(done):]
            ids = llama.tokenize(rest, add_bos=False, special=False) if rest else []
            if ids:
                self._settle(int(ids[0]))
            self._pending = None
        pieces: dict[int, str] = {}

        def alt(i: int) -> str:
            if i not in pieces:
                pieces[i] = llama.detokenize([i], special=True).decode("utf-8", "replace")
            return pieces[i]

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        out: list[Token] = []
        held = 0.0  # log-probability of bytes that did not yet make a whole character
        for token, logprob, ids, top_lp in self.rows:
            piece = decoder.decode(llama.detokenize([token]))
            if not piece:
                held += logprob
                continue
            top = tuple((alt(int(i)), round(float(lp), 6)) for i, lp in zip(ids, top_lp, strict=True))
            out.append(Token(piece, logprob + held, top))
            held = 0.0
        return _trim(out, text)


def _trim(tokens: list[Token], text: str) -> list[Token]:
    """Cut ``tokens`` so their texts join to ``text`` (a stop string cut the answer inside a token)."""
    kept: list[Token] = []
    at = 0
    for token in tokens:
        if at >= len(text):
            break
        piece = token.text[: len(text) - at]
        kept.append(token if piece == token.text else Token(piece, token.logprob, token.top))
        at += len(piece)
    return kept


def _formatter(llama: Any) -> Any:
    """The model's own chat template (from the GGUF), rendering the assistant's turn opened."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("this model's GGUF has no chat template, so an answer cannot be continued")
    eos, bos = llama.token_eos(), llama.token_bos()
    text = llama._model.token_get_text
    return llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=text(eos) if eos != -1 else "",
                                                 bos_token=text(bos) if bos != -1 else "")


def open_stream(llama: Any, messages: list[dict[str, str]], call: dict[str, Any]) -> Any:
    """Stream chat chunks for ``messages``; a trailing assistant message is continued rather than answered."""
    if not messages or messages[-1].get("role") != "assistant":
        return llama.create_chat_completion(messages=messages, stream=True, **call)
    formatted = _formatter(llama)(messages=messages[:-1])
    prompt = formatted.prompt + messages[-1].get("content", "")
    stop = [*formatted.stop, *(call.pop("stop", None) or [])]
    chunks = llama.create_completion(prompt=prompt, stream=True, stop=stop, **call)
    return _as_chat(chunks)


def _as_chat(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Completion chunks shaped as chat chunks (``delta.content``), as :func:`open_stream` promises."""
    try:
        for chunk in chunks:
            choice = chunk["choices"][0]
            yield {"choices": [{"delta": {"content": choice.get("text") or ""},
                                "finish_reason": choice.get("finish_reason")}]}
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def split_text(provider: Any, model: str, text: str) -> tuple[list[int], list[str]]:
    """``text`` as the local ``model``'s token ids and their texts (its own tokenizer, no chat template)."""
    from .._lens import split_pieces

    with provider._lock:
        llama = provider._load(model)
        ids = [int(i) for i in llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)]
        return ids, split_pieces(llama.detokenize, ids)
