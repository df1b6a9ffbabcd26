"""The parameter form: one control per parameter, described by the schema, and the values read back.

:func:`param_specs` turns ``Params.model_json_schema()`` into :class:`ParamSpec`
entries (kind of control, bounds, help); the views build their sliders from
them. :func:`build_params` validates what a form holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .._params import PARAM_NAMES, Params, param_bounds
from .._tokens import TOKEN_PARAMS
from .._types import split_model
from ..providers import get_provider

__all__ = ["ParamSpec", "param_specs", "build_params", "provider_defaults", "clamp_param", "shared_defaults",
           "default_labels"]


def build_params(values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Params:
    """Validated :class:`Params` from a form's values; ``None`` or ``""`` means "unset"."""
    merged = {**values, **(overrides or {})}
    return Params.build(**{k: v for k, v in merged.items() if v is not None and v != "" and v != ()})


@dataclass(frozen=True)
class ParamSpec:
    """How to show one parameter: the kind of control, its bounds and its help.

    ``kind`` is ``"float"`` (a slider), ``"count"`` (a small whole-number
    slider), ``"int"`` (a number box, for wide ranges such as max_tokens) or
    ``"strings"`` (a list of strings: stop) or ``"choice"`` (one of
    ``options``: reasoning_effort). ``optional`` parameters can be left
    unset, meaning the provider's default.
    """

    name: str
    kind: Literal["float", "count", "int", "strings", "choice"]
    low: float | None
    high: float | None
    step: float
    default: Any
    shown: Any
    description: str
    optional: bool
    max_items: int | None = None
    options: tuple[str, ...] = ()


#: What an unset control shows (dimmed) until the user sets it.
_SHOWN_WHEN_UNSET = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 256, "seed": 0,
                     "presence_penalty": 0.0, "frequency_penalty": 0.0,
                     "reasoning_effort": "medium"}


def param_specs() -> list[ParamSpec]:
    """One :class:`ParamSpec` per parameter, built from ``Params.model_json_schema()``."""
    props = Params.model_json_schema()["properties"]
    specs = []
    for name in PARAM_NAMES:
        # tool_choice: set in the tools panel; the token parameters: by the "Tokens" toggle
        if name == "tool_choice" or name in TOKEN_PARAMS:
            continue
        prop = props[name]
        options = prop.get("anyOf", [prop])
        types = {o.get("type") for o in options}
        optional = "null" in types
        main = next(o for o in options if o.get("type") != "null")
        low, high = param_bounds(name) if main.get("type") in ("number", "integer") else (None, None)
        kind: Literal["float", "count", "int", "strings", "choice"]
        choices: tuple[str, ...] = tuple(main.get("enum") or ())
        step: float = 1
        if choices:
            kind = "choice"
        elif main.get("type") == "number":
            kind = "float"
            step = 0.01 if (high or 1) - (low or 0) <= 1 else 0.05
        elif main.get("type") == "integer":
            kind = "count" if low is not None and high is not None and high - low <= 64 else "int"
            step = 1
        else:
            kind, step = "strings", 1
        default = prop.get("default")
        shown = default if default is not None else _SHOWN_WHEN_UNSET.get(name, low if low is not None else ())
        specs.append(ParamSpec(name, kind, low, high, step, default, shown, prop.get("description", ""),
                               optional, main.get("maxItems"), choices))
    return specs


def provider_defaults(model: str | None) -> dict[str, Any]:
    """What ``model``'s provider uses for unset parameters, where it says (``{}`` otherwise, or on any doubt)."""
    if not model:
        return {}
    try:
        provider_name, name = split_model(model)
        return dict(get_provider(provider_name).default_params(name))
    except Exception:  # noqa: BLE001 - an unknown model claims no defaults; running it says what is wrong
        return {}


def shared_defaults(models: Sequence[str]) -> dict[str, Any]:
    """The defaults all of ``models`` agree on (each from its provider; ``{}`` for none)."""
    per_model = [provider_defaults(m) for m in dict.fromkeys(models)]
    if not per_model:
        return {}
    first, *rest = per_model
    return {k: v for k, v in first.items() if all(k in d and d[k] == v for d in rest)}


def default_labels(models: Sequence[str]) -> dict[str, str]:
    """For each parameter whose unset value is not one known number across ``models``, what to show instead.

    ``"provider default"`` when no model's provider states it; ``"smollm2 0.2 · gpt-4o-mini: provider
    default"`` when the models differ. A made-up number (0.70, 256) is never shown for an unset value.
    """
    models = list(dict.fromkeys(models))
    known = shared_defaults(models)
    per_model = {m: provider_defaults(m) for m in models}
    out: dict[str, str] = {}
    for spec in param_specs():
        if spec.kind in ("strings", "choice") or spec.name in known or spec.default is not None:
            continue
        stated = {m: d[spec.name] for m, d in per_model.items() if spec.name in d}
        if not stated:
            out[spec.name] = "provider default"
            continue
        out[spec.name] = " · ".join(f"{_short(m)} {stated[m]:g}" if m in stated else f"{_short(m)}: provider default"
                                    for m in models)
    return out


def _short(model: str) -> str:
    try:
        return split_model(model)[1]
    except Exception:  # noqa: BLE001 - a malformed name is shown as typed; running it says what is wrong
        return model


def clamp_param(name: str, value: Any) -> tuple[Any, str | None]:
    """``value`` brought within ``name``'s bounds, and the note saying so (``None`` when it was within)."""
    if name not in PARAM_NAMES or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value, None
    low, high = param_bounds(name)
    if low is not None and value < low:
        kept, side = low, "below the minimum"
    elif high is not None and value > high:
        kept, side = high, "above the maximum"
    else:
        return value, None
    kept = int(kept) if isinstance(value, int) or float(kept).is_integer() and name in ("max_tokens", "seed", "n") \
        else float(kept)
    return kept, f"{name} {value:g} is {side} ({kept:g}): using {kept:g}."
