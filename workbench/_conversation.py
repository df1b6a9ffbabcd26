"""Conversations that go on: ``r.reply()``, and the tool loop of ``run_tools=True``.

The loop is plain: call the model; if it asked for tools, check each call's arguments against
the tool's schema, run the function, and send its result back (a failure goes back as a tool
error message the model can read, and into ``r.tool_errors``); call again; stop when the model
answers without tools or after ``max_steps`` calls. Every step is its own logged call, linked
to the loop's first call (``parent_call_id``, ``step``); the tool results are in the next
step's logged request. A loop cut short by ``max_steps`` also leaves an error row in the log
(``ToolLoopError``) holding the conversation and the calls that were not run, so nothing is lost.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from typing import Any

from ._errors import ToolError, WorkbenchError
from ._keys import redact, redact_obj
from ._tools import Tool, ToolCall, assistant_message
from ._types import Request, Response

__all__ = ["reply", "run_tool_loop", "extras_html", "check_loop", "ToolLoopError"]


class ToolLoopError(WorkbenchError):
    """A tool loop ended before the model gave an answer without tool calls (``max_steps`` reached)."""


def check_loop(tools: tuple[Tool, ...], run_tools: bool, max_steps: Any) -> None:
    """Refuse, before any call, a tool loop that cannot run."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ToolError(f"max_steps={max_steps!r} is not allowed: it counts model calls in the tool loop and "
                        "must be a whole number >= 1. Fix: e.g. max_steps=5.")
    if not run_tools:
        return
    if not tools:
        raise ToolError("run_tools=True but no tools were given. Fix: pass tools=[my_function, ...].")
    missing = [t.name for t in tools if t.fn is None]
    if missing:
        raise ToolError(f"run_tools=True needs a Python function for every tool, but {', '.join(map(repr, missing))} "
                        "is only a JSON-schema definition. Fix: define it with @wb.tool on a function, or run "
                        "the calls yourself from r.tool_calls.")


def _run_one(call: ToolCall, tools: dict[str, Tool]) -> tuple[str, str | None]:
    """The tool message content for ``call`` and the error, if it failed (never raises)."""
    if call.error is not None:
        error = f"Tool call {call.name}({call.raw}) was not run: {call.error}."
        return json.dumps({"error": error}), error
    try:
        result = tools[call.name].run(call.arguments or {})
    except Exception as exc:  # noqa: BLE001 - the model hears about it, the user sees it
        error = f"Tool {call.name} raised {type(exc).__name__}: {exc}"
        return json.dumps({"error": error}), error
    if hasattr(result, "model_dump_json"):
        return result.model_dump_json(), None
    if isinstance(result, str):
        return result, None
    try:
        return json.dumps(result, ensure_ascii=False, default=str), None
    except (TypeError, ValueError):
        return str(result), None


async def run_tool_loop(runner: Any, request: Request, *, max_steps: int, cache: Any = None) -> Response:
    """Call, run the tools asked for, call again, ... (at most ``max_steps`` calls); the last
    response, with ``steps`` (the earlier ones), ``tool_results`` and ``tool_errors``."""
    tools = {t.name: t for t in request.tools}
    steps: list[Response] = []
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    current = replace(request, step=1)
    while True:
        response = await runner.call(current, cache=cache)
        step = current.step or 1
        if not response.ok or not response.tool_calls:
            break
        if step >= max_steps:
            message = (f"The tool loop stopped after max_steps={max_steps} calls with the model still asking for "
                       f"{', '.join(c.name for c in response.tool_calls)}; those calls were not run. "
                       "Fix: raise max_steps, or look at r.steps to see why the model keeps calling tools.")
            errors.append(message)
            await _log_loop_end(runner, current, response, message)
            break
        parent = current.parent_call_id if current.parent_call_id is not None else response.call_id
        follow = [*current.messages, assistant_message(response.text, response.tool_calls)]
        for call in response.tool_calls:
            content, error = _run_one(call, tools)
            content = redact(content)
            results.append({"step": step, "id": call.id, "name": call.name, "arguments": call.arguments,
                            "output": content, "error": error})
            if error:
                errors.append(f"step {step}: {error}")
            follow.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content})
        steps.append(response)
        current = replace(current, messages=tuple(follow), parent_call_id=parent, step=step + 1)
        current.__dict__.pop("cache_key", None)  # (replace builds a new object; no stale cached key)
    response.steps, response.tool_results, response.tool_errors = steps, results, errors
    return response


async def _log_loop_end(runner: Any, request: Request, last: Response, message: str) -> None:
    """An error row saying the loop was cut short, with the calls that were not run."""
    log = getattr(runner, "run_log", None)
    if log is None:
        return
    pending = [*request.messages, assistant_message(last.text, last.tool_calls)]
    row = Response(text="", model=request.model, provider=request.provider,
                   request=redact_obj({"model": request.model, "messages": pending}),
                   prompt_hash=request.prompt_hash, error=redact(message), error_type="ToolLoopError",
                   attempts=0, tags=dict(request.tags), tool_calls=list(last.tool_calls),
                   parent_call_id=request.parent_call_id if request.parent_call_id is not None else last.call_id,
                   step=(request.step or 1) + 1)
    await log.arecord(replace(request, messages=tuple(pending)), row)


def reply(response: Response, text: str, **changes: Any) -> Response:
    """One more user turn after ``response``; same model, parameters, tools and response format."""
    from ._api import complete
    from ._prompt import Prompt, _escape

    if not response.ok:
        raise WorkbenchError(f"This response is an error ({response.error_type}); there is no answer to reply to. "
                             "Fix: run the call again first.")
    origin: Request | None = response.__dict__.get("_origin")
    if not isinstance(text, str) or not text.strip():
        raise ToolError("r.reply() needs the text of the next user turn. Fix: r.reply('Answer in one sentence.').")
    prompt = Prompt.from_messages(response.messages)  # ends with the answer: always the conversation form
    prompt = prompt.with_(messages=(*prompt.messages, ("user", _escape(text))))
    params = origin.params.set() if origin is not None else {}
    params.update(changes)
    return complete(response.model, prompt, params=params, runner=response.__dict__.get("_runner"),
                    tools=list(origin.tools) if origin is not None and origin.tools else None,
                    response_format=origin.response_format if origin is not None else None)


def extras_html(response: Response) -> str:
    """Tool calls, the parsed object (or why not) and tool-loop errors, for ``_repr_html_``."""
    parts = []
    for call in response.tool_calls:
        state = "" if call.valid else f" <span style='color:#b00'>invalid: {html.escape(call.error or '')}</span>"
        parts.append(f"<div class='wb-tool-call'>&#128295; <b>{html.escape(call.name)}</b>"
                     f"(<code>{html.escape(call.raw)}</code>){state}</div>")
    if response.parsed is not None:
        shown = response.parsed.model_dump() if hasattr(response.parsed, "model_dump") else response.parsed
        parts.append(f"<div class='wb-parsed'>parsed: <code>{html.escape(json.dumps(shown, default=str))}</code></div>")
    if response.parse_error:
        parts.append(f"<div class='wb-parse-error' style='color:#b00'>{html.escape(response.parse_error)}</div>")
    for error in response.tool_errors:
        parts.append(f"<div class='wb-tool-error' style='color:#b00'>{html.escape(error)}</div>")
    return "".join(parts)
