"""What a user typed, turned into checked inputs; and any error, turned into one readable line.

Shared by the three states: the variables of a prompt being typed (never
raising on half-typed text), the values of its variable fields, keyword
arguments split into parameters and variables, and the model's key.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._api import _split
from .._errors import ModelNotFoundError, PromptError, WorkbenchError
from .._keys import redact, set_key
from .._prompt import Prompt
from .._types import split_model
from ..providers import default_model, get_provider

__all__ = ["friendly_error", "variables_in", "prompt_from_text", "check_filled", "split_kwargs",
           "missing_key", "key_env", "provide_key", "default_model"]


def friendly_error(exc: BaseException) -> str:
    """One readable line for an exception: our errors already name the fix."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return redact(f"Unexpected {type(exc).__name__}: {exc}")


_VARIABLE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def variables_in(system: str | None, user: str, examples: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Variable names of a prompt being typed, in order of first appearance.

    Unlike :attr:`Prompt.variable_order` this never raises: half-typed text
    such as ``"Tell me about {top"`` must not make the form flicker, so a
    template that does not parse yet falls back to the complete ``{names}``.
    """
    try:
        return Prompt(user=user, system=system or None, examples=tuple(examples)).variable_order
    except PromptError:
        texts = [system or "", *itertools.chain.from_iterable(examples), user]
        names: list[str] = []
        for text in texts:
            names += [n for n in _VARIABLE.findall(text) if n not in names]
        return names


def prompt_from_text(system: str | None, user: str, examples: Sequence[tuple[str, str]] = (),
                     name: str | None = None) -> Prompt:
    """The prompt as typed (raises :class:`PromptError` on a malformed placeholder)."""
    return Prompt(user=user, system=system or None, examples=tuple(examples), name=name)


def check_filled(names: Sequence[str], values: Mapping[str, str]) -> dict[str, str]:
    """The values of ``names``; an empty field is reported as missing, in widget words."""
    empty = [n for n in names if not str(values.get(n, "") or "")]
    if empty:
        listed = ", ".join("{" + n + "}" for n in empty)
        raise PromptError(
            f"The prompt uses {listed} but {'its field is' if len(empty) == 1 else 'their fields are'} empty. "
            f"Fix: type a value in the {', '.join(repr(n) for n in empty)} field under the prompt "
            "(or remove the placeholder)."
        )
    return {n: str(values[n]) for n in names}


def split_kwargs(kwargs: Mapping[str, Any], prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(parameters, variables)`` from a widget's keyword arguments, as ``wb.complete`` splits them."""
    return _split(kwargs, prompt)


def key_env(model: str) -> str | None:
    """The environment variable holding the key of ``model``'s provider (``None``: it needs none)."""
    return get_provider(split_model(model)[0]).key_env


def missing_key(model: str) -> str | None:
    """The environment variable of ``model``'s provider when its key is missing, else ``None``.

    An unknown provider is not a key problem: :meth:`Runner.prepare` reports it.
    """
    try:
        provider = get_provider(split_model(model)[0])
    except ModelNotFoundError:
        return None
    if provider.has_key():
        return None
    return provider.key_env


def provide_key(env_var: str, value: str) -> bool:
    """Keep ``value`` as the session key for ``env_var``; ``False`` if it is blank.

    Nothing is stored anywhere else: callers must clear their copy (a
    password widget's value) at once.
    """
    if not value or not value.strip():
        return False
    set_key(env_var, value)
    return True
