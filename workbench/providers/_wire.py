"""Chat-completion responses read straight from their JSON, without the SDKs' response models.

Most of an SDK's client CPU per call goes into the objects it builds from a
response: ``openai`` constructs a ``ChatCompletion`` (and a ``ChatCompletionChunk``
per streamed chunk) field by field; ``mistralai`` builds a pydantic model class
at run time to validate each response and each streamed event. The workbench
reads a handful of fields and turns them into its own :class:`Completion`, so
the providers take the decoded JSON (``dict``/``list``) from the SDK and this
module reads it once. OpenAI and Mistral answer in the same shape (``choices``
with ``message``/``delta``, ``finish_reason``, ``logprobs``; ``usage``); the one
difference, Mistral's content as a list of typed chunks, is the ``content``
function the caller passes.

A body that decodes but is not a completion (a field of the wrong type) is a
:class:`MalformedResponseError`, as the SDKs' validation made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import MalformedResponseError
from .._tokens import tokens_from_openai
from .._tools import ToolCallAccumulator, raw_tool_calls
from .._types import Completion, Delta, Usage
from ._stream import StreamAccumulator, no_choices

__all__ = ["completion_from_json", "add_chunk", "malformed", "plain_content", "usage_details", "usage_of"]

Content = Callable[[Any], str]


def plain_content(content: Any) -> str:
    """OpenAI's message content: a string, or ``None`` (a tool call) as ``""``."""
    return content or ""


@contextmanager
def malformed(label: str) -> Iterator[None]:
    """Reading a decoded body that is not shaped like a completion raises :class:`MalformedResponseError`."""
    try:
        yield
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise MalformedResponseError(
            f"{label} sent a response that is not a valid completion ({type(exc).__name__}: {exc}). "
            "The runner retries this.") from exc


def _detail(details: Any, name: str) -> int:
    """``details[name]`` of a usage's ``*_tokens_details`` (a dict, an SDK object, or absent) as an int (0 if none)."""
    if details is None:
        return 0
    value = details.get(name) if isinstance(details, dict) else getattr(details, name, None)
    return int(value or 0)


def usage_details(usage: Any) -> dict[str, int]:
    """``reasoning_tokens`` and ``cached_tokens`` of a usage, decoded JSON or an SDK object.

    OpenAI reports them as ``completion_tokens_details.reasoning_tokens`` and
    ``prompt_tokens_details.cached_tokens`` (both already inside the totals);
    an answer without them (older servers, Mistral when it has none) gives 0.
    mistralai keeps fields it does not model in ``additional_properties`` (dicts).
    """
    def field(name: str) -> Any:
        if isinstance(usage, dict):
            return usage.get(name)
        value = getattr(usage, name, None)
        if value is None:
            value = (getattr(usage, "additional_properties", None) or {}).get(name)
        return value

    return {"reasoning_tokens": _detail(field("completion_tokens_details"), "reasoning_tokens"),
            "cached_tokens": _detail(field("prompt_tokens_details"), "cached_tokens")}


def usage_of(usage: Any) -> Usage:
    """A provider's usage (decoded JSON or an SDK object) as :class:`Usage`, a missing count as 0."""
    def count(name: str) -> int:
        value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
        return int(value or 0)

    return Usage(count("prompt_tokens"), count("completion_tokens"), **usage_details(usage))


def _usage(data: Any, zero_none: bool) -> Usage | None:
    usage = data.get("usage")
    if not usage:
        return None
    if zero_none:
        return usage_of(usage)
    return Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), **usage_details(usage))


def completion_from_json(data: Any, request: dict[str, Any], *, label: str, logprobs: bool,
                         content: Content = plain_content, reason: Callable[[Any], str | None] = lambda r: r,
                         zero_none_usage: bool = False) -> Completion:
    """A non-streamed answer's decoded JSON as a :class:`Completion` (no choices: the retried error)."""
    if not isinstance(data, dict) or not data.get("choices"):
        raise no_choices(label)
    with malformed(label):
        choices = data["choices"]
        messages = [c.get("message") or {} for c in choices]
        texts = [content(m.get("content")) for m in messages]
        reasons = [reason(c.get("finish_reason")) for c in choices]
        usage = _usage(data, zero_none_usage) or Usage()
        tokens = [tokens_from_openai(c.get("logprobs")) for c in choices] if logprobs else None
        calls = raw_tool_calls(messages[0].get("tool_calls"))
    return Completion(texts, reasons[0], usage, request, reasons, tool_calls=calls, tokens=tokens)


def add_chunk(chunk: Any, answer: StreamAccumulator, calls: ToolCallAccumulator, *, logprobs: bool,
              content: Content = plain_content,
              reason: Callable[[Any], str | None] = lambda r: r, zero_none_usage: bool = False) -> Iterator[Delta]:
    """Feed one streamed chunk's decoded JSON to the accumulators; yields the deltas to show."""
    with malformed(answer.label):
        usage = _usage(chunk, zero_none_usage)
        if usage is not None:
            answer.usage = usage
        pieces = []
        for choice in chunk.get("choices") or ():
            index = choice.get("index")
            delta = choice.get("delta")
            if index == 0 and delta and delta.get("tool_calls"):
                calls.add(delta["tool_calls"])
            piece = answer.add(index, content(delta.get("content")) if delta is not None else None,
                               reason(choice.get("finish_reason")))
            if logprobs:
                answer.add_tokens(index, tokens_from_openai(choice.get("logprobs")))
            if piece is not None:
                pieces.append(piece)
    yield from pieces
