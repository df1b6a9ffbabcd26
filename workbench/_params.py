"""Generation parameters: one validated model shared by every provider.

The bounds live here once, as pydantic ``Field(ge=, le=)``; the widgets build
their sliders from :meth:`Params.model_json_schema`, and each provider maps
the validated values to its SDK in one small function. Validation errors are
rewritten into one :class:`ParamsError` that names the parameter, the value,
the allowed range and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._errors import ParamsError

__all__ = ["Params", "PARAM_NAMES", "param_bounds"]


class Params(BaseModel):
    """Sampling parameters. ``None`` means "the provider's default"."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)

    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="Randomness of sampling: 0 is (nearly) deterministic, higher is more varied."
    )
    top_p: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Nucleus sampling: sample only from the most likely tokens whose probabilities add up to top_p.",
    )
    max_tokens: int | None = Field(
        None, ge=1, le=32768, description="Upper limit on the number of tokens generated; the answer is cut there."
    )
    seed: int | None = Field(
        None, ge=0, le=2**31 - 1,
        description="Fixes the random sampling so a run can be repeated (best effort on hosted APIs).",
    )
    stop: tuple[str, ...] | None = Field(
        None, max_length=4, description="Up to 4 strings; generation stops before the first one produced."
    )
    presence_penalty: float | None = Field(
        None, ge=-2.0, le=2.0,
        description="Positive values discourage tokens that already appeared, encouraging new topics.",
    )
    frequency_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Positive values discourage tokens in proportion to how often they appeared."
    )
    n: int = Field(1, ge=1, le=16, description="Number of answers sampled for the same prompt.")
    tool_choice: str | None = Field(
        None, description="With tools: 'auto' (the model decides), 'none', 'required', or a tool's name.",
    )
    logprobs: bool | None = Field(
        None, description="Return each answer token's log-probability (Response.tokens, Response.confidence).",
    )
    top_logprobs: int | None = Field(
        None, ge=0, le=20, description="How many most likely alternatives to return for each token (needs logprobs).",
    )
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        None, description="Reasoning models only (OpenAI o-series and gpt-5, Mistral's reasoning models): how many "
                          "hidden reasoning tokens to spend before answering; they are billed as output tokens.",
    )

    @field_validator("temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty", "n",
                     "top_logprobs", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True would silently mean 1
            raise ValueError("a bool is not a number")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_tuple(cls, value: Any) -> Any:
        if value == "":
            raise ValueError("an empty stop string stops nothing")
        if value is None or value == []:
            return None
        if isinstance(value, str):
            return (value,)
        return tuple(value)

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value and any(s == "" for s in value):
            raise ValueError("stop strings must not be empty")
        for stop in value or ():
            try:
                stop.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"the stop string {stop!r} holds a lone surrogate {stop[exc.start]!r}, "
                                 "which cannot be sent") from None
        return value

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _tool_choice_form(cls, value: Any) -> Any:
        if isinstance(value, dict):  # OpenAI's {"type": "function", "function": {"name": ...}}
            value = (value.get("function") or {}).get("name", value)
        if value == "any":  # Mistral's word for "required"
            value = "required"
        if value is not None and not (isinstance(value, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", value)):
            raise ValueError("give 'auto', 'none', 'required' or the name of one of the tools")
        return value

    @field_validator("logprobs", mode="before")
    @classmethod
    def _a_bool(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool):  # "false" or 0 would be taken as a wish
            raise ValueError("logprobs must be True or False")
        return value

    @model_validator(mode="after")
    def _top_needs_logprobs(self) -> Params:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs")
        return self

    # --- construction with friendly errors ------------------------------
    @classmethod
    def build(cls, base: Params | Mapping[str, Any] | None = None, **overrides: Any) -> Params:
        """Validate ``base`` updated with ``overrides``; raise :class:`ParamsError` on bad input."""
        data: dict[str, Any] = {}
        if isinstance(base, Params):
            data.update(base.model_dump(exclude_unset=True))
        elif base:
            data.update(base)
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            raise _friendly(exc) from None

    def set(self) -> dict[str, Any]:
        """Only the parameters that were given a value (what is sent to a provider)."""
        out = {k: v for k, v in self.model_dump().items() if v is not None}
        if out.get("n") == 1:  # the default everywhere; keeps cache keys stable
            out.pop("n")
        if out.get("logprobs") is False:  # the same request as leaving it unset; keeps cache keys stable
            out.pop("logprobs")
        if "stop" in out:
            out["stop"] = list(out["stop"])
        return out

    def describe(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.set().items()) or "provider defaults"


PARAM_NAMES: tuple[str, ...] = tuple(Params.model_fields)


def param_bounds(name: str) -> tuple[float | None, float | None]:
    """(low, high) bounds of a numeric parameter, from the schema."""
    low = high = None
    for meta in Params.model_fields[name].metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return low, high


def _bound(x: float | None) -> str:
    return "?" if x is None else str(int(x)) if float(x).is_integer() else f"{x:g}"


def _friendly(exc: ValidationError) -> ParamsError:
    problems = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, PARAM_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"Unknown parameter {name!r}.{hint} Fix: use one of the allowed parameters: {', '.join(PARAM_NAMES)}."
            )
            continue
        if name in Params.model_fields and name != "stop":
            low, high = param_bounds(name)
            kind = "a whole number" if Params.model_fields[name].annotation in (int, int | None) else "a number"
            if err["type"] in ("greater_than_equal", "less_than_equal", "int_parsing", "float_parsing",
                               "int_from_float", "int_type", "float_type", "finite_number") or isinstance(value, bool):
                problems.append(
                    f"{name}={value!r} is not allowed: {name} must be {kind} from {_bound(low)} to {_bound(high)}. "
                    f"Fix: pass {name} within that range."
                )
                continue
        if name == "tool_choice":
            problems.append(f"tool_choice={value!r} is not allowed: give 'auto', 'none', 'required' or a tool's "
                            "name. Fix: e.g. tool_choice='required'.")
            continue
        if name == "stop" and "surrogate" in err["msg"]:
            problems.append(f"stop={value!r}: {err['msg'].removeprefix('Value error, ')}. "
                            "Fix: repair the text, e.g. s.encode('utf-8', 'replace').decode('utf-8').")
            continue
        if name == "stop":
            problems.append(
                f"stop={value!r} is not allowed: give up to 4 non-empty strings. Fix: e.g. stop=['\\n\\n']."
            )
            continue
        if not err["loc"] and "top_logprobs needs logprobs" in err["msg"]:
            top = value.get("top_logprobs") if isinstance(value, Mapping) else None
            problems.append(f"top_logprobs={top!r} was given without logprobs=True: alternatives come with the "
                            "token probabilities. Fix: pass logprobs=True as well (or drop top_logprobs).")
            continue
        if name == "reasoning_effort":
            problems.append(f"reasoning_effort={value!r} is not allowed: give 'minimal', 'low', 'medium' or 'high'. "
                            "Fix: e.g. reasoning_effort='low' (or leave it unset for the model's default).")
            continue
        if name == "logprobs":
            problems.append(f"logprobs={value!r} is not allowed: logprobs is True or False. Fix: pass logprobs=True.")
            continue
        problems.append(f"{name}={value!r}: {err['msg']}.")
    return ParamsError(" ".join(problems))
