"""``mock:<name>``: an in-process model with scripted answers and faults, for tests and demos.

Like inspect_ai's ``mockllm`` or httpx's ``MockTransport``: no socket, no SDK,
no model file, so tests of states, widgets and experiments are fast and exact.
The SDK wire formats are tested elsewhere, against loopback servers.

A script item may also be a dict ``{"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}``:
an answer that calls tools (tools and ``response_format`` are accepted and recorded in the calls).

An unscripted ``mock:<name>`` echoes the last user message. A script (see
:func:`workbench.testing.script`) lists what successive calls get: a string
(the answer), a callable ``(messages, params) -> str``, or a :class:`Fault`
(an error the runner sees as if the provider had sent it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .._errors import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from .._params import Params
from .._tokens import Token
from .._types import Completion, Delta, Usage
from ._base import Provider
from ._stream import StreamAccumulator, collect

__all__ = ["MockProvider", "Fault", "MockCall", "ScriptItem", "mock_tokens"]

FaultKind = Literal["rate_limit", "server", "timeout", "connection", "auth", "bad_request", "malformed",
                    "stream_cut"]


@dataclass(frozen=True)
class Fault:
    """A scripted failure. ``stream_cut`` sends ``after_chars`` of ``text`` and then breaks."""

    kind: FaultKind
    retry_after: float | None = None
    text: str = "partial answer that is cut"
    after_chars: int = 8

    def __post_init__(self) -> None:
        kinds = get_args(FaultKind)
        if self.kind not in kinds:
            raise ValueError(f"Unknown fault kind {self.kind!r}. Fix: use one of {', '.join(kinds)}.")

    def error(self, partial: str | None = None) -> ProviderError:
        if self.kind == "rate_limit":
            return RateLimitError("mock rate limit (429). Fix: wait; the runner retries.", status=429,
                                  retry_after=self.retry_after)
        if self.kind == "server":
            return ServerError("mock server error (500). The runner retries these.", status=500,
                               retry_after=self.retry_after)
        if self.kind == "timeout":
            return ProviderTimeoutError("mock did not answer in time. The runner retries.")
        if self.kind == "connection":
            return ProviderConnectionError("Could not reach mock. Fix: check the network.")
        if self.kind == "auth":
            return AuthenticationError("mock rejected the API key (401). Fix: check the key.", status=401)
        if self.kind == "bad_request":
            return BadRequestError("mock refused the request as invalid (400). Fix: check the parameters.",
                                   status=400)
        if self.kind == "malformed":
            return MalformedResponseError(
                "mock sent a response that is not a valid completion. The runner retries this.")
        return StreamInterruptedError(f"The stream from mock broke after {len(partial or '')} characters.",
                                      partial_text=partial or None)


ScriptItem = str | Fault | dict[str, Any] | Callable[[Sequence[dict[str, Any]], Params], Any]


@dataclass
class MockCall:
    """What one call to a mock model received (tests assert on these)."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    streamed: bool
    options: Any = None


@dataclass
class _Script:
    items: deque[ScriptItem] = field(default_factory=deque)
    delay: float = 0.0  # seconds before the first piece
    chunk_delay: float = 0.0  # seconds between streamed pieces
    default: ScriptItem | None = None


def _echo(messages: Sequence[dict[str, Any]], params: Params) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    text = str(users[-1].get("content") or "") if users else ""
    if messages and messages[-1].get("role") == "assistant":  # continue the prefix: the rest of the echo
        prefix = str(messages[-1].get("content") or "")
        return text[len(prefix):] if text.startswith(prefix) else " (continued)"
    return text


def mock_tokens(pieces: Sequence[str], top: int) -> list[Token]:
    """Made-up but fixed log-probabilities for a mock answer's pieces (a word's length decides them).

    The alternatives are the piece in upper case and ``" alt1"``, ``" alt2"``..., each less likely.
    """
    out = []
    for piece in pieces:
        lp = -round(0.05 + 0.45 * (len(piece.strip()) % 7) / 6, 4)
        alts = [piece, piece.upper() if piece.upper() != piece else piece + "!"]
        alts += [f" alt{j}" for j in range(1, max(top - 1, 0))]
        out.append(Token(piece, lp, tuple((a, round(lp - 1.5 * j, 4)) for j, a in enumerate(alts[:top]))))
    return out


def _words(text: str) -> list[str]:
    """Pieces to stream: each word with the space before it, so joined they give ``text`` back."""
    pieces: list[str] = []
    for i, word in enumerate(text.split(" ")):
        pieces.append(word if i == 0 else " " + word)
    return [p for p in pieces if p] or ([text] if text else [])


class MockProvider(Provider):
    """Scripted in-process models under ``mock:<any name>``; no key, no network."""

    name = "mock"
    key_env = None
    default_concurrency = 16
    supports_tools = True
    supports_response_format = True
    supports_logprobs = True  # made-up log-probabilities (mock_tokens), for testing the token lens
    branch_refusal = None  # an unscripted mock continues a trailing assistant message

    def __init__(self) -> None:
        self._scripts: dict[str, _Script] = {}
        self._lock = threading.Lock()
        self.calls: list[MockCall] = []

    def accepts_any_model(self) -> bool:
        return True

    def map_params(self, params: Params) -> dict[str, Any]:
        return params.set()

    # --- scripting -----------------------------------------------------------
    def script(self, model: str, items: Sequence[ScriptItem] = (), *, delay: float = 0.0,
               chunk_delay: float = 0.0, default: ScriptItem | None = None) -> None:
        """Successive calls to ``mock:<model>`` get ``items`` in order, then ``default`` (else an echo)."""
        with self._lock:
            self._scripts[model] = _Script(deque(items), delay, chunk_delay, default)

    def calls_to(self, model: str) -> list[MockCall]:
        with self._lock:
            return [c for c in self.calls if c.model == model]

    def _next(self, model: str) -> tuple[ScriptItem, _Script]:
        with self._lock:
            script = self._scripts.setdefault(model, _Script())
            item = script.items.popleft() if script.items else (_echo if script.default is None else script.default)
        return item, script

    def reset(self) -> None:
        """Forget every script and every recorded call."""
        with self._lock:
            self._scripts.clear()
            self.calls.clear()

    # --- calls -----------------------------------------------------------------
    async def complete(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                       *, timeout: float | None = None, options: Any = None) -> Completion:
        return await collect(self._run(model, messages, params, streamed=False, options=options))

    def stream(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
               *, timeout: float | None = None, options: Any = None) -> AsyncIterator[Delta | Completion]:
        return self._run(model, messages, params, streamed=True, options=options)

    async def _run(self, model: str, messages: Sequence[dict[str, Any]], params: Params,
                   *, streamed: bool, options: Any = None) -> AsyncIterator[Delta | Completion]:
        with self._lock:
            self.calls.append(MockCall(model, [dict(m) for m in messages], params.set(), streamed, options))
        tool_calls: list[dict[str, Any]] = []
        answer = StreamAccumulator(params.n, f"mock:{model}")
        for index in range(params.n):  # each choice takes the next script item, as n separate samples would
            item, script = self._next(model)
            if script.delay and index == 0:
                await asyncio.sleep(script.delay)
            if isinstance(item, Fault):
                if item.kind == "stream_cut" and streamed:
                    partial = item.text[: item.after_chars]
                    if partial:
                        yield Delta(partial, index)
                    raise item.error(partial)
                raise item.error()
            value = item if isinstance(item, (str, dict)) else item(messages, params)
            reason = "stop"
            if isinstance(value, dict):
                if index == 0:
                    tool_calls = [{"id": f"call_{k}", "name": c["name"], "arguments": c["arguments"]
                                   if isinstance(c["arguments"], str) else json.dumps(c["arguments"])}
                                  for k, c in enumerate(value.get("tool_calls") or ())]
                reason = "tool_calls" if value.get("tool_calls") else reason
                value = value.get("content") or ""
            text = str(value)
            if params.stop:
                cuts = [text.find(s) for s in params.stop if s in text]
                text = text[: min(cuts)] if cuts else text
            if params.max_tokens is not None and len(_words(text)) > params.max_tokens:
                text, reason = "".join(_words(text)[: params.max_tokens]), "length"
            for piece in _words(text):
                if streamed and script.chunk_delay:
                    await asyncio.sleep(script.chunk_delay)
                delta = answer.add(index, piece)
                if params.logprobs:
                    answer.add_tokens(index, mock_tokens([piece], params.top_logprobs or 0))
                if streamed and delta is not None:
                    yield delta
            answer.add(index, None, reason)
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        answer.usage = Usage(prompt_tokens, sum(len(_words("".join(t))) for t in answer.texts))
        request = {"provider": "mock", "model": model, "messages": [dict(m) for m in messages], **params.set()}
        yield dataclasses.replace(answer.completion(request), tool_calls=tool_calls)
