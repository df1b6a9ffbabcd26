""""Copy as code": the Playground's prompt as Python, and as the request the provider receives.

:func:`python_code` writes the ``wb.complete(...)`` call that makes the same
request (same model, messages and parameters: the same
:attr:`Request.cache_key`), to paste into a script. :func:`raw_request`
shows what goes over the wire: the endpoint, the headers with the key as a
placeholder (never its value), and the JSON body the provider's SDK sends for
that call. Both are plain text, so any view can show or copy them.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._keys import redact, redact_obj
from .._params import PARAM_NAMES, Params
from .._prompt import Prompt
from .._tools import call_options
from .._types import Request
from ..providers import resolve

__all__ = ["python_code", "raw_request", "RawRequest"]

#: ``wb.complete``'s own argument names: a variable of that name must go in ``variables={...}``.
_COMPLETE_ARGS = frozenset({"model", "prompt", "params", "variables", "cache", "runner", "raise_errors"})


def _literal(text: str, indent: str) -> str:
    """A string literal; a text of several lines as one literal per line, joined by Python."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= 1:
        return repr(text)
    inner = "".join(f"\n{indent}    {line!r}" for line in lines)
    return f"({inner}\n{indent})"


def _value(value: Any, indent: str) -> str:
    return _literal(value, indent) if isinstance(value, str) else repr(value)


def _prompt_code(prompt: Prompt) -> str:
    parts = []
    if prompt.system:
        parts.append(f"    system={_literal(prompt.system, '    ')},")
    if prompt.examples:
        pairs = "".join(f"\n        ({_literal(q, '        ')}, {_literal(a, '        ')}),"
                        for q, a in prompt.examples)
        parts.append(f"    examples=[{pairs}\n    ],")
    parts.append(f"    user={_literal(prompt.user, '    ')},")
    return "prompt = wb.Prompt(\n" + "\n".join(parts) + "\n)"


def python_code(model: str, prompt: Prompt, variables: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """The ``wb.complete(...)`` call that sends the same request as the Playground's Run.

    Variables are passed by name (``topic="owls"``) unless one of them could
    not be (a name of ``complete``'s own or of a parameter): then all go in
    ``variables={...}``. Only the parameters that are set are written.
    """
    args = [f"    {model!r},", "    prompt,"]
    names = list(variables)
    by_name = all(n.isidentifier() and not keyword.iskeyword(n) and n not in _COMPLETE_ARGS
                  and n not in PARAM_NAMES for n in names)
    if by_name:
        args += [f"    {n}={_value(variables[n], '    ')}," for n in names]
    elif names:
        items = "".join(f"\n        {n!r}: {_value(variables[n], '        ')}," for n in names)
        args.append(f"    variables={{{items}\n    }},")
    set_params = Params.build(dict(params)).set()
    args += [f"    {name}={_value(value, '    ')}," for name, value in set_params.items()]
    code = ("import workbench as wb\n\n" + _prompt_code(prompt) + "\nresponse = wb.complete(\n"
            + "\n".join(args) + "\n)\nprint(response.text)\n")
    return redact(code)


@dataclass(frozen=True)
class RawRequest:
    """What the provider receives: where (``target``), ``headers`` (key as a placeholder) and the JSON ``body``."""

    provider: str
    target: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def body_json(self) -> str:
        return json.dumps(self.body, indent=2, ensure_ascii=False)

    @property
    def text(self) -> str:
        """The request as an HTTP exchange reads: target line, headers, blank line, JSON body."""
        head = [self.target, *(f"{k}: {v}" for k, v in self.headers.items())]
        note = f"\n\n# {self.note}" if self.note else ""
        return "\n".join(head) + "\n\n" + self.body_json + note


def _http(provider: Any, url: str, body: dict[str, Any]) -> RawRequest:
    headers = {"Content-Type": "application/json"}
    if provider.key_env:
        headers["Authorization"] = f"Bearer ${provider.key_env}"  # the variable's name, never the key
    return RawRequest(provider.name, f"POST {url}", body, headers,
                      "The Playground streams: its request also has \"stream\": true.")


def raw_request(request: Request) -> RawRequest:
    """The request the provider's SDK sends for ``request`` (as ``wb.complete`` makes it), keys redacted.

    OpenAI(-compatible) and Mistral: the HTTP endpoint and the JSON body. The
    local model: the keyword arguments of ``llama_cpp.Llama.create_chat_completion``.
    The mock provider: what it records (no request leaves the process).
    """
    provider, name = resolve(request.model)
    messages = [dict(m) for m in request.messages]
    batch_body = getattr(provider, "batch_body", None)  # what complete() sends, for the SDK providers
    if callable(batch_body):
        body = batch_body(name, messages, request.params, call_options(request))  # tools, response_format too
    else:
        body = {"model": name, "messages": messages, **provider.map_params(request.params)}
    body = redact_obj(body)
    if provider.name == "local":
        body.pop("model", None)
        return RawRequest("local", f"in-process: llama_cpp.Llama(<local:{name} GGUF>).create_chat_completion(**body)",
                          body, note="No network: the model runs in this Python process.")
    if provider.name == "mock":
        return RawRequest("mock", "in-process: mock provider", body, note="No request leaves this process.")
    base_url = getattr(provider, "base_url", None)
    server_url = getattr(provider, "server_url", None)
    if provider.name == "mistral":
        return _http(provider, redact((server_url or "https://api.mistral.ai").rstrip("/") + "/v1/chat/completions"),
                     body)
    if base_url is not None or provider.name == "openai":
        return _http(provider, redact((base_url or "https://api.openai.com/v1").rstrip("/") + "/chat/completions"),
                     body)
    return RawRequest(provider.name, f"{provider.name} SDK call", body)
