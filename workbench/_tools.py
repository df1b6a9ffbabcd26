"""Tools: ``@wb.tool`` functions as JSON-schema tool definitions, tool calls, and their wire shapes.

A :class:`Tool` is built from a typed, documented function: the type hints become the
parameters' JSON schema through pydantic (``create_model``, so pydantic models, ``Literal``,
lists, optionals and defaults all work), the docstring's first paragraph the description and
its ``Args:`` lines the parameters' descriptions. Raw JSON-schema definitions (OpenAI's
``{"type": "function", "function": {...}}`` or ``{"name", "description", "parameters"}``) are
accepted too; they have no function to run.

Every provider-specific shape lives in one small function here (``openai_tools``,
``mistral_tool_choice``, ``local_tool_schema``...), so providers only call them. A streamed
answer's tool calls arrive in fragments (OpenAI sends each call's arguments in pieces, keyed by
the call's index); :class:`ToolCallAccumulator` joins them.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import SchemaError, ToolError
from ._structured import NAME_PATTERN, ResponseFormat, check_json_schema, first_schema_error

__all__ = ["Tool", "ToolCall", "tool", "as_tools", "CallOptions", "ToolCallAccumulator", "TOOL_CHOICES",
           "openai_tools", "openai_tool_choice", "mistral_tools", "mistral_tool_choice", "raw_tool_calls",
           "assistant_message", "check_tool_choice", "local_tool_schema", "local_tool_prompt",
           "parse_local_tool_answer", "tool_calls_from_raw", "call_options", "attach_answer_extras"]

TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True, eq=False)
class Tool:
    """A tool the model may call: a name, a description, a JSON schema of its arguments, and the
    Python function that runs it (``None`` for a raw schema). Calling the tool calls the function."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] | None = field(default=None, repr=False)
    args_model: Any = field(default=None, repr=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            raise ToolError(f"Tool {self.name!r} is a JSON-schema definition with no Python function to call. "
                            "Fix: define it with @wb.tool on a function to run it.")
        return self.fn(*args, **kwargs)

    def spec(self) -> dict[str, Any]:
        """Name, description and parameters (what cache keys, the log and exports hold)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def check_arguments(self, arguments: Any) -> str | None:
        """Why ``arguments`` do not fit the schema, or ``None`` if they do."""
        if not isinstance(arguments, dict):
            return f"the arguments are a {type(arguments).__name__}, not a JSON object"
        return first_schema_error(arguments, self.parameters)

    def run(self, arguments: dict[str, Any]) -> Any:
        """Call the function with ``arguments`` (validated by pydantic, so models and Literals arrive typed)."""
        if self.fn is None:
            return self()
        if self.args_model is not None:
            validated = self.args_model.model_validate(arguments)
            kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
            return self.fn(**kwargs)
        return self.fn(**arguments)

    def _repr_html_(self) -> str:
        import html

        return (f"<div><b>tool {html.escape(self.name)}</b>: {html.escape(self.description)}"
                f"<pre>{html.escape(json.dumps(self.parameters, indent=2))}</pre></div>")


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for: its ``id``, the tool's ``name``, the ``arguments`` parsed
    (``None`` if they are not JSON), the ``raw`` argument text, and ``error`` saying why the call is
    not valid (unknown tool, arguments not JSON or not fitting the schema), else ``None``."""

    id: str
    name: str
    arguments: Any
    raw: str
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments, "raw": self.raw,
                "error": self.error}


@dataclass(frozen=True)
class CallOptions:
    """What a request asks of a provider beyond plain text: tools and a response format."""

    tools: tuple[Tool, ...] = ()
    response_format: ResponseFormat | None = None
    tool_choice: str | None = None


def call_options(request: Any) -> CallOptions | None:
    """The :class:`CallOptions` a :class:`~workbench.Request` asks for (``None`` for a plain call).

    The one place that turns a request into options, so the online call, the batch line and the
    Playground's raw-request view send the same tools, tool_choice and response_format.
    """
    if not request.tools and request.response_format is None:
        return None
    return CallOptions(request.tools, request.response_format, request.params.tool_choice)


def attach_answer_extras(response: Any, raw_calls: Sequence[dict[str, Any]], request: Any) -> None:
    """Fill ``response.tool_calls`` from the raw calls and ``parsed``/``parse_error`` from its text.

    Shared by the online path and the batch collector, so both give the same columns. The raw
    calls must already be redacted (a key echoed back in arguments never reaches the log).
    """
    if raw_calls:
        response.tool_calls = tool_calls_from_raw(raw_calls, request.tools)
    if request.response_format is not None and not response.tool_calls:
        response.parsed, response.parse_error = request.response_format.parse(response.text)


# --- building tools ---------------------------------------------------------------


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None) -> Any:
    """Turn a typed, documented function into a :class:`Tool` (usable as ``@wb.tool`` or ``@wb.tool(name=...)``).

    >>> @tool
    ... def get_order(order_id: str) -> dict:
    ...     '''Look an order up by its id.'''
    ...     return {"id": order_id}
    >>> get_order.parameters["required"]
    ['order_id']
    """
    if fn is None:
        return lambda f: tool(f, name=name, description=description)
    if isinstance(fn, Tool):
        return fn
    if not callable(fn):
        raise ToolError(f"@wb.tool needs a function, not {type(fn).__name__}.")
    tool_name: str = name or str(getattr(fn, "__name__", ""))
    _check_name(tool_name)
    doc = inspect.getdoc(fn) or ""
    summary, arg_docs = _parse_docstring(doc)
    text = description if description is not None else summary
    if not text:
        raise ToolError(f"Tool {tool_name!r} has no docstring, so the model is told nothing about what it does. "
                        "Fix: add a docstring (its first paragraph is the description) or pass description=.")
    args_model, parameters = _parameters(fn, tool_name, arg_docs)
    return Tool(tool_name, text, parameters, fn, args_model)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ToolError(f"The tool name {name!r} is not allowed: providers take 1-64 letters, digits, '_' or '-' "
                        "(^[a-zA-Z0-9_-]{1,64}$). Fix: rename it, e.g. with @wb.tool(name='get_order').")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and ``name: description`` lines of an ``Args:``/``Parameters`` section."""
    paragraphs = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)
    summary = " ".join(paragraphs[0].split()) if paragraphs and paragraphs[0] else ""
    if re.match(r"^(Args|Arguments|Parameters|Returns|Raises):", summary):
        summary = ""
    args: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if section:
        for match in re.finditer(r"^[ \t]+(\w+)(?:\s*\([^)]*\))?\s*:\s*(.+)$", section.group(1), re.MULTILINE):
            args[match.group(1)] = match.group(2).strip()
    return summary, args


def _parameters(fn: Callable[..., Any], tool_name: str, arg_docs: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """The pydantic model of ``fn``'s arguments and its JSON schema."""
    from pydantic import Field, create_model
    from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - a hint naming an undefined type
        raise ToolError(f"The type hints of tool {tool_name!r} cannot be read ({exc}). "
                        "Fix: use types defined at module level.") from None
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolError(f"Tool {tool_name!r} takes *{param.name}; a model can only pass named arguments. "
                            "Fix: list each argument with its type.")
        if param.name not in hints:
            raise ToolError(f"Parameter {param.name!r} of tool {tool_name!r} has no type hint, so its JSON schema "
                            f"is unknown. Fix: annotate it, e.g. def {tool_name}({param.name}: str).")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=arg_docs.get(param.name)))
    try:
        model = create_model(f"{tool_name}_arguments", **fields)
        schema = model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        bad = [n for n, (t, _) in fields.items() if not _schema_ok(t)]
        which = f"parameter {bad[0]!r} ({fields[bad[0]][0]!r})" if bad else "a parameter"
        raise ToolError(f"Tool {tool_name!r}: {which} has a type with no JSON schema ({type(exc).__name__}). "
                        "Fix: use str, int, float, bool, Literal[...], list[...], dict[str, ...], Optional, "
                        "or a pydantic model.") from None
    return model, _clean_schema(schema)


def _schema_ok(hint: Any) -> bool:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(hint).json_schema()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no schema
        return False


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's schema without its titles, as an object schema with ``required`` always present."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    out = strip(schema)
    out.setdefault("required", [])
    return out


def _from_dict(spec: dict[str, Any]) -> Tool:
    """A raw definition: OpenAI's ``{"type": "function", "function": {...}}`` or the inner dict."""
    inner = spec.get("function") if spec.get("type") == "function" else spec
    if not isinstance(inner, dict) or "name" not in inner:
        raise ToolError(f"A tool definition must give a 'name' (and 'description', 'parameters'); got keys "
                        f"{sorted(spec)}. Fix: {{'name': 'get_order', 'description': '...', 'parameters': "
                        "{'type': 'object', 'properties': {...}}}.")
    name = inner["name"]
    _check_name(name)
    parameters = inner.get("parameters") or {"type": "object", "properties": {}}
    try:
        check_json_schema(parameters, f"The parameters of tool {name!r}")
    except SchemaError as exc:
        raise ToolError(str(exc)) from None
    return Tool(name, str(inner.get("description") or ""), parameters)


def as_tools(tools: Iterable[Any] | None) -> tuple[Tool, ...]:
    """Tools, functions (made tools) and raw definitions as :class:`Tool` objects, names unique."""
    if tools is None:
        return ()
    if isinstance(tools, (Tool, dict)) or callable(tools):
        tools = [tools]
    out: list[Tool] = []
    for item in tools:
        if isinstance(item, Tool):
            out.append(item)
        elif isinstance(item, dict):
            out.append(_from_dict(item))
        elif callable(item):
            out.append(tool(item))
        else:
            raise ToolError(f"A tool is a @wb.tool function or a JSON-schema dict, not {type(item).__name__}.")
    names = [t.name for t in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ToolError(f"Two tools are called {dupes[0]!r}; the model could not tell them apart. "
                        "Fix: give each tool its own name (@wb.tool(name=...)).")
    return tuple(out)


def check_tool_choice(choice: str | None, tools: Sequence[Tool]) -> None:
    """Raise :class:`ToolError` if ``tool_choice`` asks for tools that were not given."""
    if choice is None:
        return
    if not tools and choice != "none":
        raise ToolError(f"tool_choice={choice!r} was given but no tools. Fix: pass tools=[...] or drop tool_choice.")
    if choice not in TOOL_CHOICES and choice not in {t.name for t in tools}:
        raise ToolError(f"tool_choice={choice!r} is neither {', '.join(TOOL_CHOICES)} nor one of the tools "
                        f"({', '.join(t.name for t in tools)}). Fix: use one of those.")


# --- wire shapes -----------------------------------------------------------------


def openai_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": t.spec()} for t in tools]


def openai_tool_choice(choice: str) -> Any:
    return choice if choice in TOOL_CHOICES else {"type": "function", "function": {"name": choice}}


def mistral_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    return openai_tools(tools)  # mistralai's Tool(type="function", function=Function(name, description, parameters))


def mistral_tool_choice(choice: str) -> Any:
    """mistralai's ToolChoiceEnum says "any" for "must call a tool"; a named tool is a ToolChoice."""
    if choice == "required":
        return "any"
    return choice if choice in TOOL_CHOICES else {"type": "function", "function": {"name": choice}}


def raw_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """An SDK message's ``tool_calls`` as plain ``{"id", "name", "arguments"}`` (arguments as text)."""
    out = []
    for i, call in enumerate(calls or ()):
        function = getattr(call, "function", None) or (call.get("function") if isinstance(call, dict) else None)
        name = getattr(function, "name", None) if not isinstance(function, dict) else function.get("name")
        arguments = getattr(function, "arguments", None) if not isinstance(function, dict) else function.get(
            "arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        call_id = getattr(call, "id", None) if not isinstance(call, dict) else call.get("id")
        out.append({"id": str(call_id or f"call_{i}"), "name": str(name or ""), "arguments": arguments})
    return out


class ToolCallAccumulator:
    """Joins streamed tool-call deltas: each carries the call's ``index`` and, first, its id and
    name, then fragments of its arguments; parallel calls interleave by index."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}

    def add(self, deltas: Any) -> None:
        for position, delta in enumerate(deltas or ()):
            get = delta.get if isinstance(delta, dict) else (lambda k, d=delta: getattr(d, k, None))
            index = get("index")
            index = position if index is None else int(index)
            call = self.calls.setdefault(index, {"id": None, "name": "", "arguments": []})
            if get("id") and get("id") != "null":
                call["id"] = get("id")
            function = get("function")
            if function is not None:
                fget = function.get if isinstance(function, dict) else (lambda k, f=function: getattr(f, k, None))
                if fget("name"):
                    call["name"] = fget("name")
                arguments = fget("arguments")
                if arguments is not None:
                    call["arguments"].append(arguments if isinstance(arguments, str) else json.dumps(arguments))

    def result(self) -> list[dict[str, Any]]:
        return [{"id": c["id"] or f"call_{i}", "name": c["name"], "arguments": "".join(c["arguments"])}
                for i, c in sorted(self.calls.items())]


def tool_calls_from_raw(raw: Sequence[dict[str, Any]], tools: Sequence[Tool]) -> list[ToolCall]:
    """Raw ``{"id", "name", "arguments"}`` calls parsed and checked against the tools given."""
    by_name = {t.name: t for t in tools}
    out = []
    for call in raw:
        text = call.get("arguments") or ""
        error: str | None = None
        try:
            arguments = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            arguments, error = None, f"the arguments are not JSON ({exc})"
        known = by_name.get(call.get("name", ""))
        if known is None and tools:
            error = f"there is no tool {call.get('name')!r} (tools: {', '.join(by_name)})"
        elif error is None and known is not None:
            problem = known.check_arguments(arguments)
            if problem:
                error = f"the arguments do not fit the schema: {problem}"
        out.append(ToolCall(str(call.get("id")), str(call.get("name")), arguments, text, error))
    return out


def assistant_message(text: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The answer as an OpenAI-style assistant message (what a conversation continues from)."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw}}
                                 for c in calls]
    return message


# --- the local model: tool calls by grammar ----------------------------------------


def local_tool_schema(tools: Sequence[Tool], choice: str | None) -> dict[str, Any]:
    """A JSON schema whose every instance is one tool call (``{"tool": name, "arguments": {...}}``),
    or, when the model may choose (``auto``), a text answer ``{"answer": "..."}``; llama.cpp makes it
    a grammar, so the small model can only write a well-formed call of a real tool."""
    chosen = [t for t in tools if t.name == choice] if choice not in (None, *TOOL_CHOICES) else list(tools)
    options: list[dict[str, Any]] = [
        {"type": "object", "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
         "required": ["tool", "arguments"]}
        for t in chosen
    ]
    if choice in (None, "auto"):
        options.append({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]})
    return options[0] if len(options) == 1 else {"anyOf": options}


def local_tool_prompt(tools: Sequence[Tool], choice: str | None) -> str:
    """The system text that tells a local model which tools it has and how to call one."""
    lines = ["You can call these tools:"]
    for t in tools:
        props = t.parameters.get("properties") or {}
        args = ", ".join(f"{n}: {p.get('type', 'value')}" for n, p in props.items())
        lines.append(f"- {t.name}({args}): {t.description}")
    lines.append('To call a tool, reply with JSON: {"tool": "<name>", "arguments": {...}}.')
    if choice in (None, "auto"):
        lines.append('To answer without a tool, reply with JSON: {"answer": "<text>"}.')
    return "\n".join(lines)


def parse_local_tool_answer(text: str, call_id: str = "call_0") -> tuple[str, list[dict[str, Any]]]:
    """The grammar-constrained answer as (text, raw tool calls); ``call_id`` must be new in the conversation."""
    try:
        data = json.loads(text)
    except ValueError:
        return text, []
    if isinstance(data, dict) and "tool" in data:
        return "", [{"id": call_id, "name": str(data["tool"]),
                     "arguments": json.dumps(data.get("arguments", {}), ensure_ascii=False)}]
    if isinstance(data, dict) and isinstance(data.get("answer"), str):
        return data["answer"], []
    return text, []


def _extras(options: CallOptions | None, tools: Callable[[Sequence[Tool]], Any], choice: Callable[[str], Any],
            response_format: Callable[[Any], Any]) -> dict[str, Any]:
    """Keyword arguments for tools, tool_choice and response_format in one provider's wire shapes."""
    out: dict[str, Any] = {}
    if options is None:
        return out
    if options.tools:
        out["tools"] = tools(options.tools)
        if options.tool_choice:
            out["tool_choice"] = choice(options.tool_choice)
    if options.response_format is not None:
        out["response_format"] = response_format(options.response_format)
    return out


def openai_extras(options: CallOptions | None) -> dict[str, Any]:
    """``chat.completions.create`` keyword arguments for tools, tool_choice and response_format."""
    from ._structured import openai_response_format

    return _extras(options, openai_tools, openai_tool_choice, openai_response_format)


def mistral_extras(options: CallOptions | None) -> dict[str, Any]:
    """mistralai ``chat.complete`` keyword arguments for tools, tool_choice and response_format."""
    from ._structured import mistral_response_format

    return _extras(options, mistral_tools, mistral_tool_choice, mistral_response_format)


def local_messages(messages: Sequence[dict[str, Any]], options: CallOptions | None) -> list[dict[str, str]]:
    """Messages a chat template can lay out: plain text content only (an assistant's tool calls written
    as the JSON the model itself produces), and the tools described in the system message."""
    out: list[dict[str, str]] = []
    for m in messages:
        content = m.get("content") or ""
        if m.get("tool_calls"):
            calls = [{"tool": c["function"]["name"], "arguments": _loads(c["function"].get("arguments"))}
                     for c in m["tool_calls"]]
            content = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
        out.append({"role": str(m["role"]), "content": str(content)})
    if options is not None and options.tools and options.tool_choice != "none":
        prompt = local_tool_prompt(options.tools, options.tool_choice)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + prompt}
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


def local_extras(options: CallOptions | None) -> dict[str, Any]:
    """llama-cpp-python's ``response_format`` (a schema llama.cpp compiles to a grammar) for tools or a schema."""
    from ._structured import local_response_format

    if options is None:
        return {}
    if options.tools and options.tool_choice != "none":
        return {"response_format": {"type": "json_object",
                                    "schema": local_tool_schema(options.tools, options.tool_choice)}}
    if options.response_format is not None:
        return {"response_format": local_response_format(options.response_format)}
    return {}


def uses_tool_grammar(options: CallOptions | None) -> bool:
    return options is not None and bool(options.tools) and options.tool_choice != "none"


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text
