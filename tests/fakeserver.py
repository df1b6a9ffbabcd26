"""Loopback fake of the OpenAI and Mistral chat-completions HTTP APIs.

Why it exists: the workbench's providers, retry logic and benchmarks must be
exercised against the *real* SDKs (``openai``, ``mistralai``) without network
access, with deterministic answers and with failures we can program.  The fake
speaks HTTP/1.1 with keep-alive on a plain asyncio stream server (stdlib only),
so it adds a few tens of microseconds per request and never serialises them.

Base URLs (both SDKs end up on ``POST /v1/chat/completions``)::

    OpenAI(base_url=server.openai_base_url, api_key="test-key")    # url + "/v1"
    Mistral(server_url=server.mistral_base_url, api_key="test-key")  # url; the SDK adds /v1/...

Wire format, chosen per request (first rule that matches wins):

1. a path prefix: ``/openai/v1/...`` or ``/mistral/v1/...``;
2. ``FakeServer(provider="openai" | "mistral")`` for plain ``/v1/...``;
3. ``provider="auto"`` (default): a ``User-Agent`` containing "mistral" (the
   mistralai SDK sends ``mistral-client-python/<version>``) or a body with a
   Mistral-only key (``random_seed``, ``safe_prompt``) means Mistral, else OpenAI.

Answers: by default ``"Echo: <last user message>"``; pass ``responder`` to
change that.  A "token" is a whitespace-separated word: the reply is streamed
one word per chunk (each chunk keeps its leading whitespace, so the chunks
concatenate to the exact text), ``max_tokens``/``max_completion_tokens`` keeps
that many words (finish_reason "length"), ``stop`` cuts before the first stop
string (finish_reason "stop").  Usage: ``prompt_tokens`` = words in all message
contents, ``completion_tokens`` = words in the reply times ``n``.

Reasoning models and prompt caching, as OpenAI reports them: a model named like
OpenAI's reasoning models (``o1``, ``o3-mini``, ``o4-mini``, ``gpt-5-mini``: see
:func:`is_reasoning_model`) spends hidden reasoning tokens first (``REASONING_TOKENS``
per ``reasoning_effort``, default medium), counted in ``completion_tokens`` and in
``completion_tokens_details.reasoning_tokens`` and taken from ``max_completion_tokens``
before the answer; it rejects ``temperature`` and the other sampling parameters, and
``max_tokens``, with OpenAI's 400 (``unsupported_value`` / ``unsupported_parameter``).
A prompt whose first 1024 or more "tokens" (words, role names included) match a prompt
this server saw before for the same model reports ``prompt_tokens_details.cached_tokens``
(1024 plus whole 128-token blocks, OpenAI's rule). Both details appear only when not 0,
non-streamed and in the streamed usage chunk.

Faults (``server.script([...])`` for the next requests in arrival order, or a
seeded ``server.fault_rate(...)``); an optional ``:number`` argument follows the
kind: ``429[:retry_after_s]``, ``429-no-retry-after``, ``400``, ``401``, ``403``,
``500``, ``502`` (an HTML gateway page, as proxies send), ``503``,
``timeout[:hang_s]`` (no answer until the client gives up or hang_s passes),
``reset`` (TCP RST, no response), ``cut[:events]`` (stream: that many SSE events,
default half, then FIN without ``[DONE]``; non-stream: half the announced body),
``malformed`` (200 with invalid JSON), ``empty`` (200 with ``choices: []``), ``badutf8`` (the answer with
two bytes that are not UTF-8 at the start of its text) and
``ok`` (script only: answer normally).  Faults apply to chat completions only;
latency applies to every chat-completions answer, faults and 401s included.

Out of process (benchmarks: the fake must not share the client's GIL)::

    python -m tests.fakeserver --port 0 --latency 0.2 --fault-rate 0.1 --seed 1

prints its URL as the first stdout line and its final stats as JSON when it
stops (SIGTERM/SIGINT, or stdin EOF with ``--exit-on-stdin-eof``).
``FakeServerProcess`` wraps that; its runtime control goes through the
unauthenticated admin endpoints ``GET /_fake/stats``, ``GET /_fake/requests``,
``POST /_fake/reset`` and ``POST /_fake/configure``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

Responder = Callable[[dict[str, Any]], Any]  # returns the answer's text, or a Reply (text and tool calls)
ProviderChoice = Literal["auto", "openai", "mistral"]

DEFAULT_API_KEY = "test-key"
DEFAULT_FAULT_KINDS: tuple[str, ...] = ("429", "500", "503")
FAULT_KINDS: tuple[str, ...] = (
    "429", "429-no-retry-after", "400", "401", "403", "500", "502", "503",
    "timeout", "reset", "cut", "malformed", "empty", "badutf8",
)
_STATUS_OF_FAULT = {
    "429": 429, "429-no-retry-after": 429, "400": 400, "401": 401,
    "403": 403, "500": 500, "502": 502, "503": 503,
}
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable",
}
_READ_LIMIT = 4 * 1024 * 1024
_CREATED = 1_700_000_000
_FINGERPRINT = "fp_fake0000"
_REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One injected failure: a kind from FAULT_KINDS and its optional number.

    ``arg`` is Retry-After seconds for "429", hang seconds for "timeout" and
    SSE events sent before the drop for "cut"; None means the server default.
    """

    kind: str
    arg: float | None = None

    @classmethod
    def parse(cls, spec: str | Fault | None) -> Fault | None:
        """Parse ``"429:0.2"``-style specs; ``"ok"``/None mean "no fault"."""
        if spec is None or isinstance(spec, Fault):
            return spec
        kind, _, arg = str(spec).strip().partition(":")
        if kind == "ok":
            return None
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS} or 'ok'")
        return cls(kind, float(arg) if arg else None)


class FaultPlan:
    """Decides, per chat request in arrival order, which fault (if any) to inject.

    Scripted entries are consumed first, then the random rate applies.  The
    generator is seeded, so the sequence of decisions is reproducible; which
    request gets which decision depends only on arrival order.  Locked because
    tests reprogram it from their thread while the server loop draws from it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault | None] = deque()
        self._rate = 0.0
        self._kinds: tuple[Fault, ...] = ()
        self._rng = random.Random(0)

    def script(self, specs: Iterable[str | Fault | None]) -> None:
        parsed = [Fault.parse(spec) for spec in specs]
        with self._lock:
            self._queue.extend(parsed)

    def set_rate(self, rate: float, kinds: Sequence[str] = DEFAULT_FAULT_KINDS, seed: int | None = 0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be within [0, 1]")
        faults = tuple(f for f in (Fault.parse(k) for k in kinds) if f is not None)
        if rate and not faults:
            raise ValueError("a non-zero fault rate needs at least one fault kind")
        with self._lock:
            self._rate, self._kinds, self._rng = rate, faults, random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rate, self._kinds = 0.0, ()

    @property
    def pending(self) -> int:
        """Scripted entries not consumed yet."""
        with self._lock:
            return len(self._queue)

    def draw(self) -> Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
            return None


# --------------------------------------------------------------------------- answers

_PIECE = re.compile(r"\s*\S+(?:\s+$)?")


def split_tokens(text: str) -> list[str]:
    """Split into word "tokens" that keep their leading whitespace (they re-join exactly)."""
    return _PIECE.findall(text)


def message_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def echo_responder(body: dict[str, Any]) -> str:
    """Default reply: ``"Echo: <last user message>"`` — deterministic and checkable."""
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    last = message_text(users[-1].get("content")) if users else ""
    text = f"Echo: {last}".rstrip()
    messages = body.get("messages") or []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        # a trailing assistant message is continued, as llama.cpp server, vLLM and Ollama do: the rest of the echo
        prefix = message_text(messages[-1].get("content"))
        return text[len(prefix):] if text.startswith(prefix) else " (continued)"
    return text


def fake_logprob(piece: str) -> float:
    """A made-up but fixed log-probability for a word "token" (its length decides it)."""
    return -round(0.05 + 0.45 * (len(piece.strip()) % 7) / 6, 4)


def fake_logprobs_entry(piece: str, top: int) -> dict[str, Any]:
    """OpenAI's ``logprobs.content`` entry for ``piece``: alternatives are the word upper-cased, then " altN"."""
    lp = fake_logprob(piece)
    alts = [piece, piece.upper() if piece.upper() != piece else piece + "!"]
    alts += [f" alt{j}" for j in range(1, max(top - 1, 0))]
    tops = [{"token": a, "logprob": round(lp - 1.5 * j, 4), "bytes": list(a.encode("utf-8"))}
            for j, a in enumerate(alts[:top])]
    return {"token": piece, "logprob": lp, "bytes": list(piece.encode("utf-8")), "top_logprobs": tops}


def fake_logprobs(pieces: Sequence[str], top: int | None) -> dict[str, Any] | None:
    """A choice's ``logprobs`` object (``None`` when not asked for)."""
    if top is None:
        return None
    return {"content": [fake_logprobs_entry(p, top) for p in pieces], "refusal": None}


@dataclass(frozen=True)
class Reply:
    """What a responder may return instead of text: text and/or tool calls ``(name, arguments)``
    (arguments a dict, or a string sent as is, e.g. broken JSON). Several calls are parallel calls."""

    text: str = ""
    tool_calls: tuple[tuple[str, Any], ...] = ()


def tool_call_responder(calls: Sequence[tuple[str, Any]], then: str = "Done.") -> Responder:
    """A responder that asks for ``calls`` when the conversation has no tool result yet, else answers
    ``then`` followed by the tool results it saw (so a test can check they were sent back)."""
    def respond(body: dict[str, Any]) -> Any:
        results = [message_text(m.get("content")) for m in body.get("messages") or []
                   if isinstance(m, dict) and m.get("role") == "tool"]
        if results:
            return f"{then} " + " | ".join(results)
        return Reply("", tuple(calls))
    return respond


def json_responder(obj: Any) -> Responder:
    """A responder answering ``obj`` as JSON text (for response_format tests)."""
    return lambda body: json.dumps(obj)


@dataclass(frozen=True)
class Completion:
    """What one chat request is answered with, before it is put in a wire format."""

    id: str
    model: str
    n: int
    pieces: tuple[str, ...]
    finish_reason: str
    prompt_tokens: int
    #: ``{"id", "name", "arguments"}`` (arguments as JSON text) of the first choice's tool calls
    tool_calls: tuple[dict[str, str], ...] = ()
    #: How many alternatives per token when ``logprobs`` was asked (``None``: not asked).
    top_logprobs: int | None = None
    #: Hidden reasoning tokens per choice (a reasoning model), and prompt tokens served from the prompt cache.
    reasoning_tokens: int = 0
    cached_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def usage(self) -> dict[str, Any]:
        completion_tokens = self.n * (len(self.pieces) + self.reasoning_tokens)
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens, "audio_tokens": 0}
        if self.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.n * self.reasoning_tokens,
                                                  "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                                  "rejected_prediction_tokens": 0}
        return usage


# ---- reasoning models and prompt caching (OpenAI's rules, approximated with word "tokens")

#: Hidden reasoning tokens a reasoning model spends per answer, by ``reasoning_effort`` (unset: medium).
REASONING_TOKENS = {"minimal": 0, "low": 16, "medium": 64, "high": 256}
#: Parameters a reasoning model answers with a 400, and OpenAI's error code for each.
REASONING_REJECTS = {"temperature": "unsupported_value", "top_p": "unsupported_value",
                     "presence_penalty": "unsupported_parameter", "frequency_penalty": "unsupported_parameter",
                     "logprobs": "unsupported_parameter", "top_logprobs": "unsupported_parameter",
                     "stop": "unsupported_parameter", "max_tokens": "unsupported_parameter"}
#: OpenAI caches prompts of at least this many tokens, in blocks of CACHE_BLOCK beyond it.
CACHE_MIN_TOKENS, CACHE_BLOCK = 1024, 128
_REASONING_NAME = re.compile(r"(o\d+(-.*)?|gpt-5(\.\d+)?(-(?!chat).*)?)")


def is_reasoning_model(model: Any) -> bool:
    """Whether ``model`` is named like one of OpenAI's reasoning models (o-series, gpt-5 but not gpt-5-chat)."""
    return isinstance(model, str) and bool(_REASONING_NAME.fullmatch(model.lower()))


def reasoning_rejection(body: dict[str, Any]) -> tuple[str, str, str] | None:
    """(message, param, code) of OpenAI's 400 for a parameter a reasoning model rejects, or None."""
    if not is_reasoning_model(body.get("model")):
        return None
    for param, code in REASONING_REJECTS.items():
        if body.get(param) is None:
            continue
        if param == "max_tokens":
            return ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead.", param, code)
        if code == "unsupported_value":
            return (f"Unsupported value: '{param}' does not support {body[param]!r} with this model. "
                    "Only the default (1) value is supported.", param, code)
        return f"Unsupported parameter: '{param}' is not supported with this model.", param, code
    return None


def prompt_words(body: dict[str, Any]) -> list[str]:
    """The prompt as word "tokens", role names included (what a prompt cache's prefix is compared on)."""
    words: list[str] = []
    for m in body.get("messages") or ():
        if isinstance(m, dict):
            words.append(f"<{m.get('role')}>")
            words.extend(message_text(m.get("content")).split())
    return words


def cached_prefix(words: Sequence[str], seen: Iterable[Sequence[str]]) -> int:
    """Tokens of ``words`` a prompt cache holding the prompts ``seen`` serves: 0 below CACHE_MIN_TOKENS."""
    best = 0
    for old in seen:
        same = 0
        for a, b in zip(old, words, strict=False):
            if a != b:
                break
            same += 1
        best = max(best, same)
    if best < CACHE_MIN_TOKENS:
        return 0
    return CACHE_MIN_TOKENS + (best - CACHE_MIN_TOKENS) // CACHE_BLOCK * CACHE_BLOCK


def _cut_at_stop(text: str, stop: Any) -> str:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    hits = [text.find(s) for s in stops if isinstance(s, str) and s]
    hits = [i for i in hits if i >= 0]
    return text[: min(hits)] if hits else text


def plan_completion(body: dict[str, Any], text: Any, completion_id: str, provider: str = "openai") -> Completion:
    """Apply ``stop``, ``max_tokens``/``max_completion_tokens`` and ``n`` to a reply (text or :class:`Reply`)."""
    calls: tuple[dict[str, str], ...] = ()
    if isinstance(text, Reply):
        calls = tuple({"id": _call_id(provider, completion_id, k), "name": name,
                       "arguments": args if isinstance(args, str) else json.dumps(args)}
                      for k, (name, args) in enumerate(text.tool_calls))
        text = text.text
    pieces = split_tokens(_cut_at_stop(text, body.get("stop")))
    finish = "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    reasoning = REASONING_TOKENS.get(body.get("reasoning_effort") or "medium", 64) \
        if is_reasoning_model(body.get("model")) else 0
    if isinstance(limit, int) and reasoning:  # the hidden reasoning is spent first, from the same budget
        reasoning = min(reasoning, max(limit, 0))
        limit -= reasoning
    if isinstance(limit, int) and len(pieces) > limit:
        pieces, finish = pieces[: max(limit, 0)], "length"
    prompt = sum(len(message_text(m.get("content")).split()) for m in body["messages"] if isinstance(m, dict))
    return Completion(
        id=completion_id,
        model=str(body.get("model") or "fake-model"),
        n=int(body.get("n") or 1),
        pieces=tuple(pieces),
        finish_reason="tool_calls" if calls else finish,
        prompt_tokens=prompt,
        tool_calls=calls,
        top_logprobs=int(body.get("top_logprobs") or 0) if body.get("logprobs") else None,
        reasoning_tokens=reasoning,
    )


def _call_id(provider: str, completion_id: str, k: int) -> str:
    """OpenAI's ``call_<24 chars>``; Mistral's 9 letters and digits."""
    digest = f"{completion_id[-8:]}{k:02d}".replace("-", "")
    return ("call_" + digest.rjust(24, "0")) if provider == "openai" else digest[-9:].rjust(9, "a")


def _fragments(text: str, parts: int = 3) -> list[str]:
    """``text`` in ``parts`` pieces (how OpenAI streams a tool call's arguments)."""
    size = max(1, -(-len(text) // parts))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


_TOOL_CHOICES = {"openai": ("auto", "none", "required"), "mistral": ("auto", "none", "any", "required")}


def validate_features(body: dict[str, Any], provider: str) -> str | None:
    """Why the tools, tool_choice, response_format or tool messages of a body are malformed, or None.

    Both APIs answer such mistakes with a 400 naming the field; so does the fake, so that a
    wrong wire shape fails a test instead of passing unnoticed.
    """
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid 'tools': expected an array."
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict):
                return f"Invalid 'tools[{i}]': expected {{'type': 'function', 'function': {{...}}}}."
            if not isinstance(fn.get("name"), str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", fn["name"]):
                return f"Invalid 'tools[{i}].function.name'."
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                return f"Invalid 'tools[{i}].function.parameters': expected an object."
            names.append(fn["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, str):
            if choice not in _TOOL_CHOICES[provider]:
                return f"Invalid 'tool_choice': {choice!r}."
        elif not (isinstance(choice, dict) and choice.get("type") == "function"
                  and (choice.get("function") or {}).get("name") in names):
            return "Invalid 'tool_choice': a named tool must be one of 'tools'."
        if not tools and choice != "none":
            return "'tool_choice' is only allowed when 'tools' are specified."
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return "Invalid 'response_format.type'."
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                    or not isinstance(spec.get("schema"), dict):
                return "Invalid 'response_format.json_schema': 'name' and 'schema' are required."
    seen: set[str] = set()
    for i, m in enumerate(body.get("messages") or []):
        if not isinstance(m, dict):
            continue
        for call in m.get("tool_calls") or ():
            seen.add(str(call.get("id")))
            if not isinstance((call.get("function") or {}).get("arguments"), (str, dict)):
                return f"Invalid 'messages[{i}].tool_calls': arguments missing."
        if m.get("role") == "tool" and str(m.get("tool_call_id")) not in seen:
            return (f"Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    f"with 'tool_calls' (messages[{i}]).")
    if provider == "mistral" and body.get("messages") and body["messages"][-1].get("role") == "assistant" \
            and not body["messages"][-1].get("prefix"):
        return "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant"
    return None


def validate_body(body: Any) -> str | None:
    """Return why a chat request body is unacceptable, or None if it is fine."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "Missing required parameter: 'messages'."
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or not 1 <= n <= 128):
        return "Invalid 'n': expected an integer between 1 and 128."
    return None


# --------------------------------------------------------------------------- wire formats


class OpenAIFormat:
    """OpenAI's JSON shapes for completions, stream chunks, errors and model lists."""

    name = "openai"

    @staticmethod
    def completion_id(seq: int) -> str:
        return f"chatcmpl-fake{seq:016d}"

    def completion(self, c: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": c.text, "refusal": None, "annotations": []}
        if c.tool_calls:
            message["content"] = c.text or None
            message["tool_calls"] = [{"id": t["id"], "type": "function",
                                      "function": {"name": t["name"], "arguments": t["arguments"]}}
                                     for t in c.tool_calls]
        choices = [
            {"index": i, "message": dict(message), "logprobs": fake_logprobs(c.pieces, c.top_logprobs),
             "finish_reason": c.finish_reason}
            for i in range(c.n)
        ]
        return {
            "id": c.id, "object": "chat.completion", "created": _CREATED, "model": c.model,
            "choices": choices, "usage": c.usage, "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }

    def chunks(self, c: Completion, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Role chunk, one chunk per word per choice, finish chunks, then usage if asked."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {"id": c.id, "object": "chat.completion.chunk", "created": _CREATED, "model": c.model,
                "service_tier": "default", "system_fingerprint": _FINGERPRINT}
        if include_usage:
            base["usage"] = None

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None,
                  logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
            choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
            return {**base, "choices": [choice]}

        for i in range(c.n):
            yield chunk(i, {"role": "assistant", "content": "", "refusal": None})
        for piece in c.pieces:
            for i in range(c.n):
                yield chunk(i, {"content": piece}, logprobs=fake_logprobs([piece], c.top_logprobs))
        if c.tool_calls and c.n:  # each call opens with id and name, then its arguments in fragments;
            for k, t in enumerate(c.tool_calls):  # parallel calls' fragments interleave (keyed by index)
                yield chunk(0, {"tool_calls": [{"index": k, "id": t["id"], "type": "function",
                                                "function": {"name": t["name"], "arguments": ""}}]})
            pieces = [_fragments(t["arguments"]) for t in c.tool_calls]
            for step in range(max(len(p) for p in pieces)):
                for k, fragments in enumerate(pieces):
                    if step < len(fragments):
                        yield chunk(0, {"tool_calls": [{"index": k, "function": {"arguments": fragments[step]}}]})
        for i in range(c.n):
            yield chunk(i, {}, c.finish_reason)
        if include_usage or c.n == 0:
            yield {**base, "choices": [], "usage": c.usage if include_usage else None}

    @staticmethod
    def error(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "param": param, "code": code}}

    def auth_error(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            return self.error(401, "You didn't provide an API key. You need to provide your API key "
                              "in an Authorization header using Bearer auth.", "invalid_request_error", None)
        key = authorization.removeprefix("Bearer ").strip()
        shown = f"{key[:3]}***{key[-2:]}" if len(key) > 6 else "***"
        return self.error(401, f"Incorrect API key provided: {shown}.", "invalid_request_error", "invalid_api_key")

    def fault_error(self, status: int) -> dict[str, Any]:
        table = {
            400: ("[fake] Invalid request (injected fault).", "invalid_request_error", None),
            403: ("Country, region, or territory not supported", "request_forbidden",
                  "unsupported_country_region_territory"),
            429: ("Rate limit reached for requests (injected fault).", "requests", "rate_limit_exceeded"),
            500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
            503: ("The server is overloaded or not ready yet.", "server_error", None),
        }
        message, type_, code = table[status]
        return self.error(status, message, type_, code)

    def bad_request(self, message: str, status: int = 400) -> dict[str, Any]:
        return self.error(status, message, "invalid_request_error", None)

    def models(self, ids: Sequence[str]) -> dict[str, Any]:
        data = [{"id": m, "object": "model", "created": _CREATED, "owned_by": "system"} for m in ids]
        return {"object": "list", "data": data}


class MistralFormat(OpenAIFormat):
    """Mistral's shapes: no OpenAI-only fields, usage in the last stream chunk,
    errors as ``{"object": "error", ...}`` and a bare gateway body for 401."""

    name = "mistral"

    @staticmethod
    def completion_id(seq: int) -> str:
        return f"{seq:032x}"

    def completion(self, c: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "tool_calls": None, "content": c.text}
        if c.tool_calls:
            message["tool_calls"] = self._calls(c)
        choices = [{"index": i, "message": dict(message), "finish_reason": c.finish_reason} for i in range(c.n)]
        if c.top_logprobs is not None:
            for choice in choices:
                choice["logprobs"] = {"content": [_mistral_entry(p, c.top_logprobs) for p in c.pieces]}
        return {"id": c.id, "object": "chat.completion", "model": c.model, "usage": c.usage,
                "created": _CREATED, "choices": choices}

    def chunks(self, c: Completion, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Role chunk, one chunk per word per choice, finish chunks; usage rides on the last."""
        base = {"id": c.id, "object": "chat.completion.chunk", "created": _CREATED, "model": c.model}

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None,
                  piece: str | None = None) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish}
            if piece is not None and c.top_logprobs is not None:
                choice["logprobs"] = {"content": [_mistral_entry(piece, c.top_logprobs)]}
            return {**base, "choices": [choice]}

        for i in range(c.n):
            yield chunk(i, {"role": "assistant", "content": ""})
        for piece in c.pieces:
            for i in range(c.n):
                yield chunk(i, {"content": piece}, piece=piece)
        if c.tool_calls and c.n:  # Mistral sends the calls whole, in one delta
            yield chunk(0, {"content": "", "tool_calls": self._calls(c)})
        for i in range(c.n - 1):
            yield chunk(i, {"content": ""}, c.finish_reason)
        last = chunk(c.n - 1, {"content": ""}, c.finish_reason) if c.n else {**base, "choices": []}
        yield {**last, "usage": c.usage}

    @staticmethod
    def _calls(c: Completion) -> list[dict[str, Any]]:
        return [{"id": t["id"], "type": "function", "function": {"name": t["name"], "arguments": t["arguments"]},
                 "index": k} for k, t in enumerate(c.tool_calls)]

    @staticmethod
    def error(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
        return {"object": "error", "message": message, "type": type_, "param": param, "code": code}

    def auth_error(self, authorization: str | None) -> dict[str, Any]:
        return {"message": "Unauthorized", "request_id": "0" * 32}

    def fault_error(self, status: int) -> dict[str, Any]:
        table = {
            400: ("[fake] Invalid request (injected fault).", "invalid_request_error", "3000"),
            403: ("Forbidden", "forbidden", "1403"),
            429: ("Rate limit exceeded", "rate_limited", "1300"),
            500: ("Internal server error", "internal_server_error", "3000"),
            503: ("Service unavailable", "service_unavailable", "3500"),
        }
        message, type_, code = table[status]
        return self.error(status, message, type_, code)

    def bad_request(self, message: str, status: int = 400) -> dict[str, Any]:
        return self.error(status, message, "invalid_request_error", "3000")

    def models(self, ids: Sequence[str]) -> dict[str, Any]:
        capabilities = {"completion_chat": True, "function_calling": True, "completion_fim": False,
                        "fine_tuning": False, "vision": False}
        data = [{"id": m, "object": "model", "created": _CREATED, "owned_by": "mistralai",
                 "capabilities": dict(capabilities), "max_context_length": 32768, "type": "base"}
                for m in ids]
        return {"object": "list", "data": data}


def _mistral_entry(piece: str, top: int) -> dict[str, Any]:
    """Mistral's logprobs entry: OpenAI's plus a ``token_id`` (made up: the entry's CRC)."""
    entry = fake_logprobs_entry(piece, top)
    entry["token_id"] = zlib.crc32(piece.encode("utf-8")) % 50000
    for alt in entry["top_logprobs"]:
        alt["token_id"] = zlib.crc32(alt["token"].encode("utf-8")) % 50000
    return entry


_FORMATS: dict[str, OpenAIFormat] = {"openai": OpenAIFormat(), "mistral": MistralFormat()}
_BAD_GATEWAY_HTML = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                     b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")


_CONTENT = re.compile(rb'"content": ?"')


def _bad_utf8(data: bytes) -> bytes:
    """``data`` with two bytes that are not UTF-8 at the start of the first message content."""
    return _CONTENT.sub(lambda m: m.group(0) + b"\xff\xfe", data, count=1)


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


# --------------------------------------------------------------------------- HTTP/1.1


class _BadHTTP(Exception):
    """The peer sent something that is not an HTTP/1.1 request we can parse."""


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # skip trailers
            pass
        return b"".join(parts)
    length = int(headers.get("content-length") or 0)
    return await reader.readexactly(length) if length else b""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read the next request on a keep-alive connection; None on a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadHTTP("truncated request head") from exc
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _BadHTTP(f"bad request line {lines[0]!r}") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    try:
        body = await _read_body(reader, headers)
    except ValueError as exc:
        raise _BadHTTP("bad body framing") from exc
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, target, headers, body, keep_alive)


class Exchange:
    """Writes one response on a connection, including the broken ones faults need."""

    def __init__(self, writer: asyncio.StreamWriter, request: Request, request_id: str) -> None:
        self.writer = writer
        self.request = request
        self.request_id = request_id
        self.keep_alive = request.keep_alive

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}", f"x-request-id: {self.request_id}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append("connection: " + ("keep-alive" if self.keep_alive else "close"))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, status: int, body: bytes, content_type: str = "application/json",
                   headers: dict[str, str] | None = None) -> None:
        head = self._head(status, {"content-type": content_type, "content-length": str(len(body)), **(headers or {})})
        self.writer.write(head + body)
        await self.writer.drain()

    async def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        await self.send(status, json.dumps(obj, separators=(",", ":")).encode(), headers=headers)

    async def send_truncated(self, status: int, body: bytes) -> None:
        """Announce the whole body, send half, then close: a connection cut mid-body."""
        self.keep_alive = False
        head = self._head(status, {"content-type": "application/json", "content-length": str(len(body))})
        self.writer.write(head + body[: len(body) // 2])
        await self.writer.drain()
        self.writer.close()

    async def stream(self, events: Iterable[bytes], delay: float, done: bool = True) -> None:
        """Send SSE events as HTTP chunks; without ``done`` close instead of finishing."""
        self.writer.write(self._head(200, {"content-type": "text/event-stream; charset=utf-8",
                                           "transfer-encoding": "chunked", "cache-control": "no-cache"}))
        for event in events:
            self.writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            if delay:
                await self.writer.drain()
                await asyncio.sleep(delay)
        if done:
            self.writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(b"data: [DONE]\n\n"), b"data: [DONE]\n\n"))
        else:
            self.keep_alive = False
        await self.writer.drain()
        if not done:
            self.writer.close()

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), so the client sees a reset, not EOF."""
        self.keep_alive = False
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def hang(self, seconds: float, reader: asyncio.StreamReader) -> None:
        """Answer nothing until the client hangs up or ``seconds`` pass, then close."""
        self.keep_alive = False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(), seconds)
        self.writer.close()


# --------------------------------------------------------------------------- the server

_API_ROUTES = {"/v1/chat/completions": "POST", "/v1/models": "GET"}
_MISTRAL_ONLY_KEYS = ("random_seed", "safe_prompt")
_MALFORMED_JSON = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'


def _split_prefix(path: str) -> tuple[str | None, str]:
    """``/mistral/v1/models`` -> ("mistral", "/v1/models"); no prefix -> (None, path)."""
    for name in ("openai", "mistral"):
        if path.startswith(f"/{name}/"):
            return name, path[len(name) + 1:]
    return None, path


def _seconds(value: float) -> str:
    """Render Retry-After: integral seconds as an int, as real servers do; else a float."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _SDKAddresses:
    """The base URLs each SDK expects, derived from the server's ``url`` (in and out of process alike)."""

    url: str

    @property
    def openai_base_url(self) -> str:
        """For ``OpenAI(base_url=...)``: the SDK appends ``/chat/completions``."""
        return self.url + "/v1"

    @property
    def mistral_base_url(self) -> str:
        """For ``Mistral(server_url=...)``: the SDK appends ``/v1/chat/completions``."""
        return self.url


class FakeServer(_SDKAddresses):
    """The fake API on 127.0.0.1, served by its own event loop in a daemon thread.

    Use as ``with FakeServer(latency=0.01) as server: ...``.  Settings are plain
    attributes (``latency``, ``chunk_delay``, ``responder``, ``api_key``,
    ``provider``, ``retry_after``, ``hang_seconds``) and may change while it runs.
    ``api_key=None`` disables the Authorization check.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = DEFAULT_API_KEY,
        provider: ProviderChoice = "auto",
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        responder: Responder | None = None,
        models: Sequence[str] = ("fake-model",),
        retry_after: float = 1.0,
        hang_seconds: float = 30.0,
        script: Sequence[str] | None = None,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[str] = DEFAULT_FAULT_KINDS,
        seed: int | None = 0,
    ) -> None:
        self.host, self.port = host, port
        self.api_key, self.provider = api_key, provider
        self.latency, self.chunk_delay = latency, chunk_delay
        self.responder: Responder = responder or echo_responder
        self.models = list(models)
        self.retry_after, self.hang_seconds = retry_after, hang_seconds
        self.faults = FaultPlan()
        self.faults.set_rate(fault_rate, fault_kinds, seed)
        self.faults.script(script or ())
        #: Answer 400 to any request with tools or response_format (an OpenAI-compatible server without them).
        self.reject_features = False
        #: Recent prompts per model (word "tokens"), for the prompt cache's cached_tokens.
        self._prompt_cache: dict[str, deque[list[str]]] = {}
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._seq = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        #: Extra endpoints (e.g. tests.fakebatch.BatchAPI.handle): ``await mount(server, exchange, fmt, route)``
        #: answers a request and returns True, or returns False to leave it to the chat routes.
        self.mounts: list[Callable[..., Any]] = []

    # ---- lifecycle

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> FakeServer:
        """Bind (port 0 picks a free port) and serve in a background thread."""
        if self._thread is not None:
            raise RuntimeError("FakeServer already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="FakeServer", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, then join the thread."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = None

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # noqa: BLE001 - surfaced to start() if it happened while binding
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        """Serve on this thread's loop until ``stop()``; sets ``port`` once bound."""
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._on_connection, self.host, self.port,
                                            limit=_READ_LIMIT, backlog=2048)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    # ---- addresses

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- faults, records, counters

    def script(self, specs: Iterable[str | Fault | None]) -> None:
        """Queue faults for the next chat requests, e.g. ``["429:0.2", "ok", "reset"]``."""
        self.faults.script(specs)

    def fault_rate(self, rate: float, kinds: Sequence[str] = DEFAULT_FAULT_KINDS, seed: int | None = 0) -> None:
        """Inject a fault drawn from ``kinds`` into a ``rate`` fraction of chat requests."""
        self.faults.set_rate(rate, kinds, seed)

    def configure(
        self,
        *,
        latency: float | None = None,
        chunk_delay: float | None = None,
        retry_after: float | None = None,
        hang_seconds: float | None = None,
        provider: ProviderChoice | None = None,
        clear_faults: bool = False,
        script: Sequence[str] | None = None,
        fault_rate: float | None = None,
        fault_kinds: Sequence[str] = DEFAULT_FAULT_KINDS,
        seed: int | None = 0,
    ) -> None:
        """Change several settings at once (also ``POST /_fake/configure`` with a JSON object).

        None leaves a setting as it is; ``clear_faults`` runs before ``script``.
        """
        for name, value in (("latency", latency), ("chunk_delay", chunk_delay), ("retry_after", retry_after),
                            ("hang_seconds", hang_seconds), ("provider", provider)):
            if value is not None:
                setattr(self, name, value)
        if clear_faults:
            self.faults.clear()
        if fault_rate is not None:
            self.faults.set_rate(fault_rate, fault_kinds, seed)
        if script is not None:
            self.faults.script(script)

    def reset(self) -> None:
        """Forget recorded requests, zero the counters and clear the fault plan."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._prompt_cache.clear()
        self.faults.clear()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Copies of the recorded API requests, oldest first.

        Each has method, path, provider, headers (Authorization shown as
        "<redacted>"), authorization (the raw value or None), json, time and
        client ("host:port" of the peer, so tests can see connection reuse).
        """
        with self._lock:
            return [dict(r, headers=dict(r["headers"])) for r in self._requests]

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: requests, ok, unauthorized, bad_request, not_found,
        responder_error, faults_total and faults per kind."""
        with self._lock:
            counts = dict(self._counts)
        faults = {k.removeprefix("fault:"): v for k, v in counts.items() if k.startswith("fault:")}
        plain = ("requests", "ok", "unauthorized", "bad_request", "not_found", "responder_error")
        return {**{k: counts.get(k, 0) for k in plain}, "faults_total": sum(faults.values()), "faults": faults}

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def _record(self, request: Request, body: Any, provider: str, peer: Any) -> None:
        headers = dict(request.headers)
        authorization = headers.get("authorization")
        if authorization is not None:
            headers["authorization"] = "<redacted>"
        record = {"method": request.method, "path": request.path, "provider": provider, "headers": headers,
                  "authorization": authorization, "json": body, "time": time.time(),
                  "client": f"{peer[0]}:{peer[1]}" if peer else None}
        with self._lock:
            self._requests.append(record)
            self._counts["requests"] += 1

    # ---- request handling (runs on the server's loop)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one keep-alive connection until either side closes it."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while (request := await read_request(reader)) is not None:
                if not await self._dispatch(request, reader, writer) or writer.is_closing():
                    break
        except (_BadHTTP, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the peer went away or spoke nonsense: drop the connection
        except asyncio.CancelledError:
            pass  # stop() is closing everything
        finally:
            self._connections.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _dispatch(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Route one request; returns whether the connection may be reused."""
        exchange = Exchange(writer, request, f"req_{next(self._seq):024x}")
        if request.path.startswith("/_fake/"):
            await self._admin(exchange)
            return exchange.keep_alive
        forced, route = _split_prefix(request.path)
        body = request.json()
        fmt = _FORMATS[self._provider_for(forced, request, body)]
        self._record(request, body, fmt.name, writer.get_extra_info("peername"))
        for mount in self.mounts:
            if await mount(self, exchange, fmt, route):
                return exchange.keep_alive
        if _API_ROUTES.get(route) != request.method:
            self._count("not_found")
            await exchange.send_json(404, fmt.bad_request(f"Invalid URL ({request.method} {request.path})", 404))
        elif not self._authorized(request):
            self._count("unauthorized")
            await self._sleep(self.latency if route == "/v1/chat/completions" else 0.0)
            await exchange.send_json(401, fmt.auth_error(request.headers.get("authorization")))
        elif route == "/v1/models":
            self._count("ok")
            await exchange.send_json(200, fmt.models(self.models))
        else:
            await self._chat(exchange, fmt, body, reader)
        return exchange.keep_alive

    def _provider_for(self, forced: str | None, request: Request, body: Any) -> str:
        if forced is not None:
            return forced
        if self.provider != "auto":
            return self.provider
        if "mistral" in request.headers.get("user-agent", "").lower():
            return "mistral"
        if isinstance(body, dict) and any(key in body for key in _MISTRAL_ONLY_KEYS):
            return "mistral"
        return "openai"

    def _authorized(self, request: Request) -> bool:
        return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

    @staticmethod
    async def _sleep(seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def _chat(self, exchange: Exchange, fmt: OpenAIFormat, body: Any, reader: asyncio.StreamReader) -> None:
        """Answer a chat completion: validate, draw a fault, wait ``latency``, respond."""
        problem = validate_body(body)
        if problem is None:
            problem = validate_features(body, fmt.name)
        if problem is None and self.reject_features and any(k in body for k in ("tools", "response_format")):
            problem = "This server does not support 'tools' or 'response_format'."  # a plain compatible server
        rejected = reasoning_rejection(body) if problem is None else None
        if rejected is not None:  # OpenAI's 400 for a parameter a reasoning model does not take
            await self._sleep(self.latency)
            self._count("bad_request")
            message, param, code = rejected
            await exchange.send_json(400, fmt.error(400, message, "invalid_request_error", code, param))
            return
        fault = self.faults.draw() if problem is None else None
        await self._sleep(self.latency)
        if problem is not None:
            self._count("bad_request")
            await exchange.send_json(400, fmt.bad_request(problem))
            return
        self._count(f"fault:{fault.kind}" if fault else "ok")
        if fault is not None and fault.kind not in ("cut", "empty", "badutf8"):
            await self._inject(exchange, fmt, body, fault, reader)
            return
        try:
            completion = plan_completion(body, self.responder(body), fmt.completion_id(next(self._seq)), fmt.name)
            completion = replace(completion, cached_tokens=min(self._cached_tokens(body), completion.prompt_tokens))
        except Exception as exc:  # noqa: BLE001 - a broken test responder must show up as a 500, not a hang
            self._count("responder_error")
            await exchange.send_json(500, fmt.error(500, f"responder failed: {exc!r}", "server_error", None))
            return
        await self._answer(exchange, fmt, body, completion, fault)

    def _cached_tokens(self, body: dict[str, Any]) -> int:
        """Prompt tokens served from this server's prompt cache (same model, a long enough shared prefix)."""
        words = prompt_words(body)
        with self._lock:
            seen = self._prompt_cache.setdefault(str(body.get("model")), deque(maxlen=64))
            cached = cached_prefix(words, seen)
            seen.append(words)
        return cached

    async def _answer(self, exchange: Exchange, fmt: OpenAIFormat, body: dict[str, Any],
                      completion: Completion, fault: Fault | None) -> None:
        """Send the completion whole, as ``empty`` (no choices) or ``cut`` short."""
        if fault is not None and fault.kind == "empty":
            completion = replace(completion, n=0, pieces=())
        cut = fault is not None and fault.kind == "cut"
        bad = fault is not None and fault.kind == "badutf8"  # the answer's text starts with bytes that are not UTF-8
        if not body.get("stream"):
            if cut:
                await exchange.send_truncated(200, json.dumps(fmt.completion(completion)).encode())
            elif bad:
                await exchange.send(200, _bad_utf8(json.dumps(fmt.completion(completion)).encode()))
            else:
                await exchange.send_json(200, fmt.completion(completion))
            return
        events = [_sse(chunk) for chunk in fmt.chunks(completion, body)]
        if bad:
            first = next(i for i, e in enumerate(events) if _CONTENT.search(e))
            events[first] = _bad_utf8(events[first])
        if cut:
            keep = int(fault.arg) if fault is not None and fault.arg is not None else max(1, len(events) // 2)
            events = events[: min(keep, len(events) - 1)]
        await exchange.stream(events, self.chunk_delay, done=not cut)

    async def _inject(self, exchange: Exchange, fmt: OpenAIFormat, body: dict[str, Any],
                      fault: Fault, reader: asyncio.StreamReader) -> None:
        """Play a fault that replaces the answer: an HTTP error or a broken connection."""
        if fault.kind == "timeout":
            await exchange.hang(fault.arg if fault.arg is not None else self.hang_seconds, reader)
        elif fault.kind == "reset":
            exchange.reset()
        elif fault.kind == "malformed":
            if body.get("stream"):
                await exchange.stream([b"data: " + _MALFORMED_JSON + b"\n\n"], 0.0)
            else:
                await exchange.send(200, _MALFORMED_JSON)
        elif fault.kind == "502":
            await exchange.send(502, _BAD_GATEWAY_HTML, "text/html")
        elif fault.kind == "401":
            await exchange.send_json(401, fmt.auth_error(exchange.request.headers.get("authorization")))
        else:
            status = _STATUS_OF_FAULT[fault.kind]
            headers = {}
            if fault.kind == "429":
                headers["retry-after"] = _seconds(fault.arg if fault.arg is not None else self.retry_after)
            await exchange.send_json(status, fmt.fault_error(status), headers)

    async def _admin(self, exchange: Exchange) -> None:
        """Control endpoints for an out-of-process server (no auth, not recorded)."""
        request = exchange.request
        action = (request.method, request.path.removeprefix("/_fake/"))
        try:
            if action == ("GET", "stats"):
                result: Any = self.stats
            elif action == ("GET", "requests"):
                result = self.requests
            elif action == ("POST", "reset"):
                self.reset()
                result = {"ok": True}
            elif action == ("POST", "configure"):
                self.configure(**(request.json() or {}))
                result = {"ok": True}
            else:
                await exchange.send_json(404, {"error": f"no admin action {action}"})
                return
        except (TypeError, ValueError) as exc:
            await exchange.send_json(400, {"error": str(exc)})
            return
        await exchange.send_json(200, result)


# --------------------------------------------------------------------------- out of process


class FakeServerProcess(_SDKAddresses):
    """The same fake in a child interpreter, so it does not share the client's GIL.

    Takes FakeServer's scalar options (latency, chunk_delay, api_key, provider,
    retry_after, hang_seconds, script, fault_rate, fault_kinds, seed); a
    ``responder`` cannot cross the process boundary.  ``stop()`` returns the
    child's final stats.
    """

    def __init__(self, **options: Any) -> None:
        self.argv = _options_to_argv(options)
        self.url = ""
        self.final_stats: dict[str, Any] | None = None
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FakeServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> FakeServerProcess:
        """Spawn ``python -m tests.fakeserver`` and wait for the URL line."""
        command = [sys.executable, "-m", "tests.fakeserver", *self.argv, "--exit-on-stdin-eof"]
        self._proc = subprocess.Popen(command, cwd=_REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self._proc.kill()
            raise RuntimeError(f"fake server process did not start (first line {line!r})")
        self.url = line
        return self

    def stop(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """Close the child's stdin (it exits on EOF) and read its final stats line."""
        if self._proc is None:
            return self.final_stats
        proc, self._proc = self._proc, None
        try:
            out, _ = proc.communicate(input="", timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        self.final_stats = json.loads(lines[-1])["stats"] if lines else None
        return self.final_stats

    def _admin(self, method: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}/_fake/{action}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    @property
    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._admin("GET", "requests")

    def reset(self) -> None:
        self._admin("POST", "reset", {})

    def configure(self, **changes: Any) -> None:
        """Same keywords as ``FakeServer.configure``."""
        self._admin("POST", "configure", changes)

    def script(self, specs: Sequence[str]) -> None:
        self.configure(script=list(specs))

    def fault_rate(self, rate: float, kinds: Sequence[str] = DEFAULT_FAULT_KINDS, seed: int | None = 0) -> None:
        self.configure(fault_rate=rate, fault_kinds=list(kinds), seed=seed)


def _options_to_argv(options: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeserver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="'' disables the Authorization check")
    parser.add_argument("--provider", choices=("auto", "openai", "mistral"), default="auto")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    parser.add_argument("--retry-after", type=float, default=1.0, help="default Retry-After of '429'")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="default hang of 'timeout'")
    parser.add_argument("--script", type=_csv, default=[], help="faults for the next requests: 429,ok,500")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", type=_csv, default=list(DEFAULT_FAULT_KINDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (parent died)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or stdin EOF); URL first, final stats JSON last on stdout."""
    args = _parse_args(argv)
    server = FakeServer(
        host=args.host, port=args.port, api_key=args.api_key or None, provider=args.provider,
        latency=args.latency, chunk_delay=args.chunk_delay, retry_after=args.retry_after,
        hang_seconds=args.hang_seconds, script=args.script, fault_rate=args.fault_rate,
        fault_kinds=args.fault_kinds, seed=args.seed,
    )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    if args.exit_on_stdin_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    with server:
        print(server.url, flush=True)
        while not done.wait(0.5):
            pass
    print(json.dumps({"stats": server.stats}), flush=True)


if __name__ == "__main__":
    main()
