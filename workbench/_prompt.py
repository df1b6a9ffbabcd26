"""Prompts: a system message, a user message, optional few-shot turns, ``{variables}``;
or a whole conversation (``messages=[("user", ...), ("assistant", ...), ...]``).

Placeholders use Python's ``str.format`` syntax because newcomers already know
it; literal braces are written doubled (``{{`` and ``}}``), which matters as
soon as a prompt shows a JSON example. Anything between braces that is not a
plain identifier is reported with that fix rather than failing obscurely.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from ._errors import PromptError

__all__ = ["Prompt", "as_prompt", "Message", "Turn", "ROLES"]

Message = dict[str, Any]
#: The roles a conversation may hold (what each provider accepts is checked by the provider).
ROLES = ("system", "user", "assistant", "tool")
_FORMATTER = string.Formatter()
_SCALARS = (str, int, float, bool)


def _fields(template: str, where: str) -> list[str]:
    """Variable names in ``template``, in order of first appearance."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise PromptError(
            f"The {where} has an unmatched brace ({exc}). "
            "Fix: write a literal '{' as '{{' and '}' as '}}'."
        ) from None
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise PromptError(
                f"The {where} contains {shown!r}, which is not a variable name. "
                "Variables look like {topic} (letters, digits, underscores). "
                "Fix: if you meant literal braces (a JSON example, say), double them: '{{' and '}}'."
            )
        if name not in names:
            names.append(name)
    return names


def _as_text(name: str, value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        raise PromptError(
            f"Variable {name!r} is NaN (an empty cell in a cases table?). "
            f"Fix: give {name!r} a text value."
        )
    if value is None or not isinstance(value, _SCALARS):
        raise PromptError(
            f"Variable {name!r} is a {type(value).__name__}, not text. "
            "Fix: pass a string, e.g. json.dumps(value) for data or ', '.join(items) for a list."
        )
    text = str(value)
    _check_utf8(f"Variable {name!r}", text)
    return text


def _surrogate_at(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (a half of a UTF-16 pair, which UTF-8 cannot carry), if it does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _check_utf8(what: str, text: str) -> None:
    """Refuse text that cannot be sent: a lone surrogate fails only at the HTTP layer, after retries."""
    at = _surrogate_at(text)
    if at is not None:
        raise PromptError(
            f"{what} holds a lone surrogate {text[at]!r} at position {at} (half of a broken character, "
            "often from text decoded with errors='surrogateescape' or sliced UTF-16), which cannot be sent. "
            "Fix: repair the text, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
        )


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: a role and a text template (``{variables}`` allowed).

    An assistant turn may carry the tool calls it made (``tool_calls``, OpenAI's wire shape as
    canonical JSON text, so the turn stays hashable); a tool turn answers the call ``tool_call_id``.
    """

    role: str
    content: str = ""
    tool_call_id: str | None = None
    name: str | None = None
    tool_calls: str | None = None

    def as_message(self, content: str | None = None) -> Message:
        """The turn as an OpenAI-style message dict (``content`` replaces the template when given)."""
        out: Message = {"role": self.role, "content": self.content if content is None else content}
        if self.tool_calls:
            out["tool_calls"] = json.loads(self.tool_calls)
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


def _as_turn(item: Any, index: int) -> Turn:
    """A (role, text) pair, a message dict or a :class:`Turn` as a :class:`Turn` (``index`` counts from 1)."""
    if isinstance(item, Turn):
        turn = item
    elif isinstance(item, Mapping):
        calls = item.get("tool_calls")
        turn = Turn(str(item.get("role", "")), item.get("content") or "",
                    tool_call_id=item.get("tool_call_id"), name=item.get("name"),
                    tool_calls=json.dumps(list(calls), sort_keys=True, ensure_ascii=False) if calls else None)
    elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        turn = Turn(item[0], item[1])
    else:
        raise PromptError(
            f"Message {index} is a {type(item).__name__}, not a (role, text) pair or a message dict. "
            "Fix: write messages=[('user', 'Hi'), ('assistant', 'Hello!'), ('user', '{question}')]."
        )
    if turn.role not in ROLES:
        raise PromptError(
            f"Message {index} has the role {turn.role!r}. Fix: use one of {', '.join(ROLES)}.")
    if not isinstance(turn.content, str):
        raise PromptError(f"Message {index} ({turn.role}) has content of type {type(turn.content).__name__}, "
                          "not text. Fix: pass a string.")
    return turn


@dataclass(frozen=True)
class Prompt:
    """A chat prompt template.

    >>> p = Prompt(system="You are terse.", user="Translate to French: {text}")
    >>> sorted(p.variables)
    ['text']
    >>> p.render(text="Good morning")[-1]["content"]
    'Translate to French: Good morning'
    """

    user: str = ""
    system: str | None = None
    examples: tuple[tuple[str, str], ...] = field(default=())
    name: str | None = field(default=None, compare=False)
    #: A conversation (after the system message and examples, before ``user`` if that is given).
    messages: tuple[Turn, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "examples", _normalise_examples(self.examples))
        first = 1 + bool(self.system) + 2 * len(self.examples)
        object.__setattr__(self, "messages", tuple(_as_turn(m, first + i)
                                                   for i, m in enumerate(self.messages or ())))
        _ = self.variable_order  # parses the placeholders now, so a malformed one fails here with a clear message

    # --- structure -------------------------------------------------------
    def _templates(self) -> list[tuple[str, str]]:
        parts = []
        if self.system:
            parts.append(("system message", self.system))
        for i, (q, a) in enumerate(self.examples, 1):
            parts += [(f"example {i} input", q), (f"example {i} output", a)]
        for where, turn in self._turns():
            parts.append((where, turn.content))
        if self.user or not self.messages:
            parts.append(("user message", self.user))
        return parts

    def _turns(self) -> list[tuple[str, Turn]]:
        """The conversation turns with the name errors give them ("message 3 (assistant)")."""
        first = 1 + bool(self.system) + 2 * len(self.examples)
        return [(f"message {first + i} ({t.role})", t) for i, t in enumerate(self.messages)]

    @property
    def is_conversation(self) -> bool:
        """True when the prompt holds ``messages`` (not only the system/examples/user shorthand)."""
        return bool(self.messages)

    @property
    def variable_order(self) -> list[str]:
        """Variable names in the order they first appear (for forms and tables)."""
        names: list[str] = []
        for where, text in self._templates():
            names += [n for n in _fields(text, where) if n not in names]
        return names

    @property
    def variables(self) -> set[str]:
        return set(self.variable_order)

    @property
    def hash(self) -> str:
        """A stable 16-hex-digit content hash (name excluded), for versions and caching."""
        content: dict[str, Any] = {"system": self.system or "", "user": self.user, "examples": self.examples}
        if self.messages:  # only then: the shorthand's hashes (and so cache keys and versions) stay as they were
            content["messages"] = [t.as_message() for t in self.messages]
        payload = json.dumps(
            content,
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    # --- rendering -------------------------------------------------------
    def check_variables(self, values: Mapping[str, Any], *, strict: bool = True) -> None:
        """Raise :class:`PromptError` naming any missing (or, if strict, unused) variable."""
        wanted = self.variable_order
        missing = [n for n in wanted if n not in values]
        if missing:
            given = sorted(values) or "none"
            hints = "".join(_did_you_mean(n, values) for n in missing)
            where = ""
            if self.messages:  # in a conversation, say which message wants it
                found = [w for w, t in self._templates() if missing[0] in _fields(t, w)]
                where = f" ({missing[0]!r} is used in {found[0]})" if found else ""
            raise PromptError(
                f"Missing variable{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                f"(given: {given}){where}.{hints} Fix: pass {', '.join(f'{n}=<text>' for n in missing)}."
            )
        unused = [n for n in values if n not in wanted]
        if strict and unused:
            hints = "".join(_did_you_mean(n, wanted) for n in unused)
            raise PromptError(
                f"Unused variable{'s' if len(unused) > 1 else ''} {', '.join(map(repr, unused))}: "
                f"the prompt's variables are {wanted or 'none'}.{hints} "
                "Fix: remove it, or add it to the prompt as {" + unused[0] + "}."
            )

    def render(self, values: Mapping[str, Any] | None = None, /, *, strict: bool = True,
               **kwargs: Any) -> list[Message]:
        """The chat messages with every variable filled in.

        ``strict`` (the default) also rejects variables the prompt does not use,
        which catches typos such as ``{txt}`` against ``text=``.
        """
        merged = {**(values or {}), **kwargs}
        self.check_variables(merged, strict=strict)
        text = {n: _as_text(n, merged[n]) for n in self.variable_order}
        _check_utf8("The system message", self.system or "")
        _check_utf8("The user message", self.user)
        for i, (q, a) in enumerate(self.examples, 1):
            _check_utf8(f"Example {i}", q + a)
        turns = self._turns()
        for where, turn in turns:
            _check_utf8(where[0].upper() + where[1:], turn.content)
            if turn.role in ("user", "system") and not turn.content.strip():
                raise PromptError(f"{where[0].upper() + where[1:]} is empty. Fix: write its text, or remove it.")
            if turn.role == "assistant" and not turn.content.strip() and not turn.tool_calls:
                raise PromptError(f"{where[0].upper() + where[1:]} is empty. Fix: write the assistant's answer, "
                                  "or remove the turn.")
        if not self.user.strip() and not turns:
            raise PromptError("The user message is empty. Fix: write the request in the user message.")
        messages: list[Message] = []
        if self.system and self.system.strip():
            messages.append({"role": "system", "content": self.system.format_map(text)})
        for q, a in self.examples:
            messages.append({"role": "user", "content": q.format_map(text)})
            messages.append({"role": "assistant", "content": a.format_map(text)})
        for _where, turn in turns:
            messages.append(turn.as_message(turn.content.format_map(text)))
        if self.user.strip() or not turns:
            messages.append({"role": "user", "content": self.user.format_map(text)})
        return messages

    def with_(self, **changes: Any) -> Prompt:
        """A copy with some fields changed (``p.with_(system="...")``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system, "user": self.user,
                               "examples": [list(e) for e in self.examples], "name": self.name}
        if self.messages:
            out["messages"] = [t.as_message() for t in self.messages]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prompt:
        return cls(
            user=data.get("user", ""),
            system=data.get("system"),
            examples=tuple(tuple(e) for e in data.get("examples") or ()),
            name=data.get("name"),
            messages=tuple(data.get("messages") or ()),
        )

    @classmethod
    def from_messages(cls, messages: Sequence[Mapping[str, Any]], *, literal: bool = True) -> Prompt:
        """Build a prompt from OpenAI-style messages (``r.messages``, say) to continue a conversation.

        Braces in them are text (``literal``), not variables. Messages that fit the shorthand
        (system, user/assistant pairs, a final user message) give a shorthand prompt.
        """
        esc = _escape if literal else (lambda t: t)
        msgs = [dict(m) for m in messages]
        if _fits_shorthand(msgs):
            system = msgs.pop(0)["content"] if msgs[0].get("role") == "system" else None
            user = msgs.pop()["content"]
            examples = tuple((esc(msgs[i]["content"]), esc(msgs[i + 1]["content"])) for i in range(0, len(msgs), 2))
            return cls(user=esc(user), system=esc(system) if system else None, examples=examples)
        system = None
        if msgs and msgs[0].get("role") == "system" and isinstance(msgs[0].get("content"), str):
            system = esc(msgs.pop(0)["content"])
        turns = tuple(_as_turn({**m, "content": esc(m.get("content") or "")}, i + 1 + bool(system))
                      for i, m in enumerate(msgs))
        return cls(system=system, messages=turns)

    def __str__(self) -> str:
        lines = []
        if self.system:
            lines.append(f"[system] {self.system}")
        for q, a in self.examples:
            lines += [f"[user] {q}", f"[assistant] {a}"]
        for turn in self.messages:
            calls = f" -> tool calls {turn.tool_calls}" if turn.tool_calls else ""
            lines.append(f"[{turn.role}] {turn.content}{calls}")
        if self.user or not self.messages:
            lines.append(f"[user] {self.user}")
        return "\n".join(lines)


def _fits_shorthand(msgs: list[dict[str, Any]]) -> bool:
    """System?, (user, assistant)*, user, each plain text: what ``Prompt(system, user, examples)`` holds."""
    if any(set(m) != {"role", "content"} or not isinstance(m["content"], str) for m in msgs):
        return False
    body = msgs[1:] if msgs and msgs[0]["role"] == "system" else msgs
    if not body or len(body) % 2 == 0:
        return False
    return all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(body))


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r} instead of {name!r}?" if close else ""


def _normalise_examples(examples: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for ex in examples or ():
        if isinstance(ex, Mapping):
            q, a = ex.get("user", ex.get("input")), ex.get("assistant", ex.get("output"))
        else:
            q, a = ex
        if not isinstance(q, str) or not isinstance(a, str):
            raise PromptError("Each few-shot example is a (user, assistant) pair of strings. "
                              "Fix: examples=[('2+2?', '4')].")
        out.append((q, a))
    return tuple(out)


def as_prompt(prompt: Prompt | str | Sequence[Mapping[str, str]], *, template: bool = False) -> Prompt:
    """Accept a :class:`Prompt`, a plain string (one user message) or a list of messages.

    A plain string is taken literally (braces in it are text) unless ``template``
    is true, which callers set when variables were passed alongside it.
    """
    if isinstance(prompt, Prompt):
        return prompt
    if isinstance(prompt, str):
        return Prompt(user=prompt if template else _escape(prompt))
    if isinstance(prompt, Sequence):  # (of messages: a str was handled above)
        return Prompt.from_messages(cast("Sequence[Mapping[str, str]]", prompt))
    raise PromptError(
        f"A prompt must be a wb.Prompt, a string or a list of messages, not {type(prompt).__name__}. "
        "Fix: wrap it, e.g. wb.Prompt(user='...')."
    )
