"""promptfoo export of conversations, tools and response formats (issue 12), kept apart from
``_export.py`` so its core stays small: the conversation turns of a prompt as promptfoo chat
messages, and each provider entry's ``config`` gaining ``tools``, ``tool_choice`` and
``response_format`` in that provider's own wire shape (which promptfoo's openai and mistral
providers pass through)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._tools import CallOptions, mistral_extras, openai_extras

__all__ = ["promptfoo_turns", "add_tools_to_providers"]


def promptfoo_turns(prompt: Any, template: Callable[[str], str]) -> list[dict[str, Any]]:
    """The conversation turns of ``prompt`` (``messages=``) as promptfoo chat messages."""
    out = []
    for turn in prompt.messages:
        message = turn.as_message(template(turn.content))
        out.append(message)
    return out


def add_tools_to_providers(experiment: Any, providers: list[dict[str, Any]]) -> list[str]:
    """Put the experiment's tools and response format into each provider's config; notes for the YAML."""
    tools = tuple(getattr(experiment, "tools", ()) or ())
    response_format = getattr(experiment, "response_format", None)
    notes: list[str] = []
    if not tools and response_format is None:
        return notes
    choices = {combo.get("tool_choice") for combo in getattr(experiment, "grid", [{}])}
    choice = choices.pop() if len(choices) == 1 else None
    if len(choices) > 0:
        notes.append("# tool_choice differs between parameter settings; set it per provider below.")
    for entry in providers:
        options = CallOptions(tools, response_format, choice)
        extras = mistral_extras(options) if str(entry.get("id", "")).startswith("mistral:") else openai_extras(options)
        entry.setdefault("config", {}).update(extras)
    if tools and any(t.fn is not None for t in tools):
        notes.append("# Tools are exported as schemas: promptfoo checks the calls the model makes, it does not run "
                     "the Python functions (run_tools stays in the workbench).")
    cases = getattr(experiment, "cases", None)
    if cases is not None and "history" in cases.columns:
        notes.append("# The cases' history column is exported as a var; the workbench puts those turns before the "
                     "user message, which these prompts do not do.")
    return notes
