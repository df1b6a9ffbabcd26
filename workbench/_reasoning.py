"""Reasoning models: which ones there are, what they refuse, checked before any call.

OpenAI's reasoning models (the o-series: o1, o3, o3-mini, o4-mini, ...; and the
gpt-5 family) think in hidden *reasoning tokens* before they answer. Those
tokens are billed as output (they are inside ``usage.completion_tokens``; the
share is ``completion_tokens_details.reasoning_tokens``, :attr:`Usage.reasoning_tokens`
here) and are steered by ``reasoning_effort`` instead of the sampling
parameters, which these models reject with a 400. The API also wants
``max_completion_tokens`` rather than ``max_tokens`` (the OpenAI provider sends
that name for every model). Refusing here costs nothing; the 400 costs a
round trip and, inside an experiment, one failed cell per case.

The rules live in one table, :data:`REJECTED_BY_REASONING`, and one function,
:func:`check_reasoning_params`, so a model family that changes its rules is a
one-line edit.
"""

from __future__ import annotations

import re

from ._errors import UnsupportedParamError
from ._params import Params

__all__ = ["is_openai_reasoning_model", "REJECTED_BY_REASONING", "check_reasoning_params",
           "refuse_reasoning_effort"]

#: Parameters OpenAI's reasoning models reject, and why (shown in the error).
REJECTED_BY_REASONING: dict[str, str] = {
    "temperature": "a reasoning model samples at its own fixed temperature",
    "top_p": "a reasoning model samples with its own fixed nucleus",
    "presence_penalty": "a reasoning model takes no repetition penalties",
    "frequency_penalty": "a reasoning model takes no repetition penalties",
    "logprobs": "a reasoning model returns no token log-probabilities",
    "top_logprobs": "a reasoning model returns no token log-probabilities",
    "stop": "o3, o4-mini and the gpt-5 family reject stop sequences",
}

_O_SERIES = re.compile(r"o\d+(-.*)?")  # o1, o1-mini, o3, o3-mini, o3-pro, o4-mini, o4-mini-2025-04-16 ...
_GPT5 = re.compile(r"gpt-5(\.\d+)?(-.*)?")  # gpt-5, gpt-5-mini, gpt-5-nano, gpt-5.1 ...


def is_openai_reasoning_model(name: str) -> bool:
    """Whether OpenAI's ``name`` is a reasoning model (o-series or gpt-5; not the ``gpt-5-chat`` models)."""
    name = name.lower()
    if _O_SERIES.fullmatch(name):
        return True
    return bool(_GPT5.fullmatch(name)) and "-chat" not in name


def check_reasoning_params(model: str, params: Params) -> None:
    """Refuse, before any call, what OpenAI's ``model`` would answer with a 400.

    A reasoning model: each parameter of :data:`REJECTED_BY_REASONING` that is set, and
    ``reasoning_effort="minimal"`` on an o-series model (gpt-5 only). Another model:
    ``reasoning_effort`` (a chat model has no reasoning to steer).
    """
    given = params.set()
    label = f"openai:{model}"
    if not is_openai_reasoning_model(model):
        if "reasoning_effort" in given:
            raise UnsupportedParamError(
                f"reasoning_effort is set, but {label} is not a reasoning model (it has no hidden reasoning "
                "to steer; OpenAI answers 400). Fix: remove reasoning_effort, or use a reasoning model such as "
                "'openai:o4-mini' or 'openai:gpt-5-mini'.")
        return
    bad = [name for name in REJECTED_BY_REASONING if name in given]
    if bad:
        why = "; ".join(f"{name}: {REJECTED_BY_REASONING[name]}" for name in bad)
        raise UnsupportedParamError(
            f"{label} is a reasoning model and rejects {', '.join(bad)} ({why}). Fix: remove "
            f"{'it' if len(bad) == 1 else 'them'}; to trade quality against cost and latency use "
            "reasoning_effort='low'|'medium'|'high' (max_tokens is sent as max_completion_tokens and also "
            "caps the hidden reasoning tokens).")
    if given.get("reasoning_effort") == "minimal" and not model.lower().startswith("gpt-5"):
        raise UnsupportedParamError(
            f"{label} takes reasoning_effort 'low', 'medium' or 'high'; 'minimal' is for the gpt-5 family. "
            "Fix: use reasoning_effort='low'.")


def refuse_reasoning_effort(label: str, why: str, instead: str) -> None:
    """The error for a provider that cannot take ``reasoning_effort`` at all: ``why``, and what to use ``instead``."""
    raise UnsupportedParamError(f"{label} does not take reasoning_effort: {why}. Fix: remove reasoning_effort; "
                                f"{instead}")
