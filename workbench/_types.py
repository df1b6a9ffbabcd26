"""Plain data that flows between prompts, providers, the runner and the log."""

from __future__ import annotations

import functools
import hashlib
import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from . import _errors
from ._errors import ModelNotFoundError
from ._params import Params
from ._tokens import Confidence, Token, confidence

__all__ = ["Request", "Response", "Usage", "Delta", "Completion", "split_model"]


def split_model(model: str) -> tuple[str, str]:
    """``"openai:gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``."""
    provider, sep, name = model.partition(":")
    if not sep or not provider or not name:
        raise ModelNotFoundError(
            f"Model {model!r} is not of the form 'provider:model'. "
            "Fix: write e.g. 'local:smollm2', 'openai:gpt-4o-mini' or 'mistral:mistral-small-latest' "
            "(wb.models() lists them)."
        )
    return provider, name


@dataclass(frozen=True)
class Usage:
    """Tokens a call used, as the provider counted them.

    ``reasoning_tokens`` (hidden reasoning of a reasoning model) are part of
    ``completion_tokens`` and ``cached_tokens`` (prompt tokens reused from a
    prompt cache) are part of ``prompt_tokens``, as OpenAI reports them: they
    say *how* the tokens were spent, never add to the totals.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    #: The two breakdowns above, for tables that show them beside the totals.
    DETAILS: ClassVar[tuple[str, ...]] = ("reasoning_tokens", "cached_tokens")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Request:
    """One call to make: a model, rendered messages and parameters.

    ``repeat`` distinguishes deliberate repeats of the same request (they must
    not answer each other from the cache); ``tags`` carry experiment metadata
    (variant, case, ...) into the log.
    """

    model: str
    messages: tuple[dict[str, Any], ...]
    params: Params = field(default_factory=Params)
    prompt_hash: str | None = None
    repeat: int = 0
    tags: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: Tools the model may call (``workbench._tools.Tool``) and the schema its answer must fit
    #: (``workbench._structured.ResponseFormat``); both are in the cache key when set.
    tools: tuple[Any, ...] = field(default=(), hash=False)
    response_format: Any = field(default=None, hash=False)
    #: A step of a tool loop: the loop's first call (its log id) and this call's step (1 is the first).
    parent_call_id: int | None = field(default=None, compare=False, hash=False)
    step: int | None = field(default=None, compare=False, hash=False)

    @property
    def provider(self) -> str:
        return split_model(self.model)[0]

    @functools.cached_property
    def cache_key(self) -> str:
        """SHA-256 of what is sent; computed once (the cache lookup and the log row both need it)."""
        content: dict[str, Any] = {"model": self.model, "messages": list(self.messages),
                                   "params": self.params.set(), "repeat": self.repeat}
        if self.tools:  # only when set: plain requests keep the keys they always had
            content["tools"] = [t.spec() for t in self.tools]
        if self.response_format is not None:
            content["response_format"] = self.response_format.spec()
        payload = json.dumps(
            content,
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def cacheable_by_default(self) -> bool:
        """Deterministic enough to answer from the log: temperature 0 or a fixed seed."""
        return self.params.temperature == 0 or self.params.seed is not None


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text for choice ``index``.

    ``reset`` asks the viewer to drop what it has shown, because the runner is
    retrying after the stream broke.
    """

    text: str
    index: int = 0
    reset: bool = False


@dataclass(frozen=True)
class Completion:
    """What a provider returns; the runner adds timing, cost and logging."""

    choices: list[str]
    finish_reason: str | None
    usage: Usage
    request: dict[str, Any]
    finish_reasons: list[str | None] = field(default_factory=list)
    #: The first choice's tool calls as sent: ``{"id", "name", "arguments"}`` (arguments as text).
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    #: Per choice, the answer's tokens with log-probabilities (when ``logprobs=True`` was asked), else ``None``.
    tokens: list[list[Token] | None] | None = None


@dataclass
class Response:
    """A model's answer, with everything needed to judge and reproduce it."""

    text: str
    model: str
    provider: str
    finish_reason: str | None = None
    choices: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    ttft_s: float | None = None
    cost_usd: float | None = None
    request: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    call_id: int | None = None
    prompt_hash: str | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 1
    #: Why each earlier attempt failed (error type names, oldest first): a flaky run shows its causes.
    retried: list[str] = field(default_factory=list)
    created_at: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    #: Seconds spent loading the model before the call, and waiting for a free slot (not in ``latency_s``).
    load_s: float = 0.0
    queue_s: float = 0.0
    #: Tool calls the model asked for (``workbench.ToolCall``), and with ``response_format`` the
    #: validated answer (``parsed``) or why there is none (``parse_error``).
    tool_calls: list[Any] = field(default_factory=list)
    parsed: Any = None
    parse_error: str | None = None
    #: In a tool loop (``run_tools=True``): the first call's log id, this call's step, the earlier
    #: steps' responses, what each tool returned, and what went wrong running tools.
    parent_call_id: int | None = None
    step: int | None = None
    steps: list[Response] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)
    #: The answer's tokens with log-probabilities and alternatives (``logprobs=True``), per choice; see :attr:`tokens`.
    choice_tokens: list[list[Token] | None] | None = None

    @property
    def tokens(self) -> list[Token] | None:
        """The first choice's tokens (``None`` unless the call asked for ``logprobs=True``)."""
        return self.choice_tokens[0] if self.choice_tokens else None

    @property
    def confidence(self) -> Confidence | None:
        """Mean token probability of the answer (a float) with ``.min``, ``.first``, ``.joint``; see ``_tokens``."""
        return confidence(self.tokens)

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> Response:
        """Raise the error this response records, if any (the runner never raises mid-batch)."""
        if self.error is not None:
            cls = getattr(_errors, self.error_type or "", None)
            if not (isinstance(cls, type) and issubclass(cls, _errors.WorkbenchError)):
                cls = _errors.ProviderError
            raise cls(self.error)
        return self

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The whole conversation: every message sent, then this answer (with its tool calls)."""
        from ._tools import assistant_message

        origin = self.__dict__.get("_origin")
        sent = list(origin.messages) if origin is not None else list(self.request.get("messages") or [])
        return [dict(m) for m in sent] + [assistant_message(self.text, self.tool_calls)]

    def reply(self, text: str, **changes: Any) -> Response:
        """Continue the conversation: one more user turn (taken literally), same model, parameters,
        tools and response format (``changes`` override parameters, e.g. ``temperature=0``)."""
        from ._conversation import reply

        return reply(self, text, **changes)

    def figures(self) -> str:
        """One line of figures, as shown under an answer."""
        u = self.usage
        parts = [
            f"{u.prompt_tokens} tokens in" + (f" ({u.cached_tokens} from the prompt cache)" if u.cached_tokens else ""),
            f"{u.completion_tokens} out" + (f" ({u.reasoning_tokens} hidden reasoning)" if u.reasoning_tokens else ""),
            f"latency {self.latency_s:.2f} s",
        ]
        if self.ttft_s is not None:
            parts.append(f"first token {self.ttft_s:.2f} s")
        parts.append("cost " + ("unknown" if self.cost_usd is None else f"${self.cost_usd:.6f}"))
        if self.load_s >= 0.05:
            parts.append(f"model load {self.load_s:.2f} s")
        if self.queue_s >= 0.05:
            parts.append(f"queued {self.queue_s:.2f} s")
        if self.cached:
            parts.append("cached")
        if self.retried:
            parts.append(f"{len(self.retried)} {'retry' if len(self.retried) == 1 else 'retries'}"
                         f" ({', '.join(dict.fromkeys(self.retried))})")
        if self.finish_reason and self.finish_reason != "stop":
            parts.append(f"finish: {self.finish_reason}")
        if self.steps:
            parts.append(f"tool loop: {len(self.steps) + 1} steps")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if hasattr(self.parsed, "model_dump"):
            data["parsed"] = self.parsed.model_dump()
        data["usage"]["total_tokens"] = self.usage.total_tokens
        return data

    def __repr__(self) -> str:
        if self.error:
            return f"<Response {self.model} error {self.error_type}: {self.error[:80]!r}>"
        preview = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        calls = "".join(f" -> {c.name}({c.raw})" for c in self.tool_calls)
        notes = "".join(f" [{e}]" for e in self.tool_errors)
        parse = f" [parse error: {self.parse_error}]" if self.parse_error else ""
        return f"<Response {self.model} {preview!r}{calls}{parse}{notes} ({self.figures()})>"

    def _repr_html_(self) -> str:
        if self.error:
            body = f"<b>{html.escape(self.error_type or 'Error')}</b>: {html.escape(self.error)}"
        else:
            body = f"<div style='white-space:pre-wrap'>{html.escape(self.text)}</div>"
            from ._conversation import extras_html

            body += extras_html(self)
        return (
            f"<div class='wb-response'>{body}"
            f"<div style='color:#666;font-size:90%'>{html.escape(self.model)} · {html.escape(self.figures())}</div>"
            "</div>"
        )
