"""Structured output: ``response_format=`` a JSON schema or a pydantic model, and ``r.parsed``.

One :class:`ResponseFormat` holds the schema (as canonical JSON text, so requests stay hashable
and cache keys stable), its name, the strict flag and the pydantic model if one was given. Each
provider's wire shape is one small function here, so the providers only call them:

- OpenAI: ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``;
- Mistral (mistralai's ``ResponseFormat``/``JSONSchema``): the same shape, ``schema`` being the
  alias of the SDK's ``schema_definition``;
- llama.cpp (llama-cpp-python): ``{"type": "json_object", "schema": ...}``, which llama.cpp turns
  into a grammar, so the local model can only produce text that fits the schema.

Answers are checked here, after any provider: the text parsed as JSON (a Markdown code fence
around it is tolerated) and validated with ``jsonschema`` (or the pydantic model).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ._errors import SchemaError

__all__ = ["ResponseFormat", "as_response_format", "openai_response_format", "mistral_response_format",
           "local_response_format", "strict_compatible", "parse_json_answer", "check_json_schema",
           "NAME_PATTERN"]

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def check_json_schema(schema: Any, what: str) -> None:
    """Raise :class:`SchemaError` naming the problem if ``schema`` is not a valid JSON schema."""
    import jsonschema

    if not isinstance(schema, dict):
        raise SchemaError(f"{what} must be a JSON schema (a dict), not {type(schema).__name__}. "
                          "Fix: e.g. {'type': 'object', 'properties': {'name': {'type': 'string'}}}.")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(map(str, exc.absolute_path)) or "(root)"
        raise SchemaError(f"{what} is not a valid JSON schema: {exc.message} (at {path}). "
                          "Fix: correct the schema there (json-schema.org/understanding-json-schema).") from None


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode takes ``schema`` as is: every object lists all its properties
    as required and forbids others (``additionalProperties: false``)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            if schema.get("additionalProperties") is not False or set(schema.get("required") or []) != set(props):
                return False
        return all(strict_compatible(v) for k, v in schema.items() if k not in ("enum", "const", "default"))
    if isinstance(schema, list):
        return all(strict_compatible(v) for v in schema)
    return True


@dataclass(frozen=True)
class ResponseFormat:
    """The schema an answer must follow. ``strict=None`` means: strict where the provider has it
    and the schema allows it (:func:`strict_compatible`)."""

    schema_json: str
    name: str = "response"
    strict: bool | None = None
    model: Any = field(default=None, compare=False, hash=False)

    @property
    def schema(self) -> dict[str, Any]:
        return json.loads(self.schema_json)

    @property
    def effective_strict(self) -> bool:
        return strict_compatible(self.schema) if self.strict is None else self.strict

    def spec(self) -> dict[str, Any]:
        """What identifies it in cache keys and the log."""
        out: dict[str, Any] = {"name": self.name, "schema": self.schema}
        if self.strict is not None:
            out["strict"] = self.strict
        return out

    def parse(self, text: str) -> tuple[Any, str | None]:
        """``(parsed, None)`` for a valid answer, else ``(None, why not)``."""
        return parse_json_answer(text, self.schema, self.model)


def as_response_format(value: Any) -> ResponseFormat | None:
    """A JSON schema dict, OpenAI's ``{"type": "json_schema", "json_schema": {...}}``, a pydantic model
    class or a :class:`ResponseFormat`, as a :class:`ResponseFormat` (``None`` stays ``None``)."""
    if value is None or isinstance(value, ResponseFormat):
        return value
    if isinstance(value, type):
        from pydantic import BaseModel

        if not issubclass(value, BaseModel):
            raise SchemaError(f"response_format={value.__name__} is a class but not a pydantic model. "
                              "Fix: pass a pydantic BaseModel subclass or a JSON schema dict.")
        schema = _strip_titles(value.model_json_schema())
        return ResponseFormat(json.dumps(schema, sort_keys=True), _safe_name(value.__name__), None, value)
    if isinstance(value, dict) and value.get("type") == "json_schema" and isinstance(value.get("json_schema"), dict):
        inner = value["json_schema"]
        schema = inner.get("schema")
        check_json_schema(schema, "response_format['json_schema']['schema']")
        name = str(inner.get("name") or "response")
        if not NAME_PATTERN.match(name):
            raise SchemaError(f"The response format's name {name!r} is not allowed: use 1-64 letters, digits, "
                              "'_' or '-'. Fix: rename it, e.g. 'person'.")
        return ResponseFormat(json.dumps(schema, sort_keys=True), name, inner.get("strict"))
    if isinstance(value, dict) and value.get("type") in ("json_object", "text") and "schema" not in value:
        raise SchemaError(f"response_format={value!r} gives no schema to check answers against. "
                          "Fix: pass the JSON schema itself (response_format={'type': 'object', ...}) "
                          "or a pydantic model class.")
    check_json_schema(value, "response_format")
    return ResponseFormat(json.dumps(value, sort_keys=True))


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]
    return cleaned or "response"


def _strip_titles(schema: Any) -> Any:
    """pydantic's auto titles ("Name", "Age") only lengthen the prompt; property names stay."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def parse_json_answer(text: str, schema: dict[str, Any], model: Any = None) -> tuple[Any, str | None]:
    """Parse ``text`` as JSON and validate it (pydantic ``model`` if given, else ``schema``)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body:
        return None, "The answer is empty, not JSON."
    try:
        data = json.loads(body)
    except ValueError as exc:
        return None, f"The answer is not JSON ({exc})."
    if model is not None:
        from pydantic import ValidationError

        try:
            return model.model_validate(data), None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:3])
            return None, f"The answer does not fit {model.__name__}: {problems}."
    error = first_schema_error(data, schema)
    return (data, None) if error is None else (None, f"The answer does not fit the schema: {error}.")


def first_schema_error(data: Any, schema: dict[str, Any]) -> str | None:
    """The first (most relevant) reason ``data`` fails ``schema``, or ``None`` if it is valid."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(data))
    if error is None:
        return None
    path = "/".join(map(str, error.absolute_path))
    return f"{error.message}" + (f" (at {path})" if path else "")


def openai_response_format(rf: ResponseFormat) -> dict[str, Any]:
    """OpenAI's ``response_format`` for ``rf`` (strict only where the schema allows it)."""
    return {"type": "json_schema",
            "json_schema": {"name": rf.name, "schema": rf.schema, "strict": rf.effective_strict}}


def mistral_response_format(rf: ResponseFormat) -> dict[str, Any]:
    """Mistral's ``response_format`` (mistralai ``ResponseFormat(type="json_schema", json_schema=JSONSchema(
    name=, schema_definition= (alias "schema"), strict=))``) as the dict the SDK validates into it."""
    return {"type": "json_schema",
            "json_schema": {"name": rf.name, "schema": rf.schema, "strict": rf.effective_strict}}


def local_response_format(rf: ResponseFormat) -> dict[str, Any]:
    """llama-cpp-python's ``response_format``: llama.cpp compiles the schema into a grammar."""
    return {"type": "json_object", "schema": rf.schema}
