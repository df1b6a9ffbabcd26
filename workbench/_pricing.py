"""A small, dated price table for cost estimates.

Prices change; the table says when it was written, an unknown model costs
``None`` (unknown) rather than a misleading 0, and users can correct or add a
price with :func:`set_price`. Local models cost 0.
"""

from __future__ import annotations

import math

from ._errors import ParamsError
from ._types import Request, Usage, split_model

__all__ = ["DEFAULT_OUTPUT_TOKENS", "CHARS_PER_TOKEN", "estimate_tokens", "request_tokens", "PRICES_AS_OF",
           "PRICES", "set_price", "cost_of", "estimate_cost", "price_of", "BATCH_MULTIPLIER", "BATCH_PRICES",
           "set_batch_price", "batch_price_of", "estimate_batch_cost", "CACHED_INPUT_PRICES", "set_cached_price",
           "cached_price_of", "usage_cost"]

PRICES_AS_OF = "2025-06-01"

# USD per one million tokens: (input, output). Public list prices on PRICES_AS_OF.
PRICES: dict[str, tuple[float, float]] = {
    "openai:gpt-4o-mini": (0.15, 0.60),
    "openai:gpt-4o": (2.50, 10.00),
    "openai:gpt-4.1": (2.00, 8.00),
    "openai:gpt-4.1-mini": (0.40, 1.60),
    "openai:gpt-4.1-nano": (0.10, 0.40),
    "openai:o4-mini": (1.10, 4.40),
    "mistral:mistral-small-latest": (0.10, 0.30),
    "mistral:mistral-medium-latest": (0.40, 2.00),
    "mistral:mistral-large-latest": (2.00, 6.00),
    "mistral:ministral-8b-latest": (0.10, 0.10),
    "mistral:open-mistral-nemo": (0.15, 0.15),
}

# Prompt caching: USD per million *cached* input tokens (``usage.cached_tokens``), where the provider bills them
# at a discount. OpenAI caches prompt prefixes of 1024 tokens or more automatically and lists these prices
# on PRICES_AS_OF; a model not listed here is billed at its full input price for cached tokens (never less
# than it may cost). Reasoning tokens need no entry: they are output tokens, already inside completion_tokens.
CACHED_INPUT_PRICES: dict[str, float] = {
    "openai:gpt-4o-mini": 0.075,
    "openai:gpt-4o": 1.25,
    "openai:gpt-4.1": 0.50,
    "openai:gpt-4.1-mini": 0.10,
    "openai:gpt-4.1-nano": 0.025,
    "openai:o4-mini": 0.275,
}

# Batch APIs: the fraction of the online price charged for calls run through a provider's batch API
# (OpenAI and Mistral both list batch calls at half price on PRICES_AS_OF). BATCH_PRICES overrides it per model.
BATCH_MULTIPLIER: dict[str, float] = {"openai": 0.5, "mistral": 0.5}
BATCH_PRICES: dict[str, tuple[float, float]] = {}

_FREE_PROVIDERS = {"local"}


def set_price(model: str, input_per_mtok: float, output_per_mtok: float) -> None:
    """Set the price of ``model`` in USD per million input and output tokens."""
    if input_per_mtok < 0 or output_per_mtok < 0:
        raise ParamsError("Prices cannot be negative. Fix: pass USD per million tokens, e.g. set_price(m, 0.15, 0.6).")
    split_model(model)
    PRICES[model] = (float(input_per_mtok), float(output_per_mtok))


def price_of(model: str) -> tuple[float, float] | None:
    provider, _ = split_model(model)
    if provider in _FREE_PROVIDERS:
        return (0.0, 0.0)
    return PRICES.get(model)


def cost_of(price: tuple[float, float], tokens_in: int, tokens_out: int) -> float:
    """USD for ``tokens_in`` and ``tokens_out`` at ``price`` (USD per million tokens in, out)."""
    return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


def set_cached_price(model: str, cached_input_per_mtok: float) -> None:
    """Set the price of ``model``'s cached input tokens in USD per million (see :data:`CACHED_INPUT_PRICES`)."""
    if cached_input_per_mtok < 0:
        raise ParamsError("Prices cannot be negative. Fix: pass USD per million cached input tokens, "
                          "e.g. set_cached_price(m, 0.075).")
    split_model(model)
    CACHED_INPUT_PRICES[model] = float(cached_input_per_mtok)


def cached_price_of(model: str) -> float | None:
    """USD per million cached input tokens of ``model``: its listed cached price, else its input price."""
    price = price_of(model)
    if price is None:
        return None
    return CACHED_INPUT_PRICES.get(model, price[0])


def usage_cost(price: tuple[float, float], usage: Usage, cached_input_per_mtok: float | None = None) -> float:
    """USD for ``usage`` at ``price``, its ``cached_tokens`` at ``cached_input_per_mtok`` (default: full input).

    ``cached_tokens`` are part of ``prompt_tokens`` and ``reasoning_tokens`` part of
    ``completion_tokens`` (OpenAI's accounting), so neither is added on top.
    """
    cached = min(max(usage.cached_tokens, 0), usage.prompt_tokens)
    rate = price[0] if cached_input_per_mtok is None else cached_input_per_mtok
    return cost_of(price, usage.prompt_tokens - cached, usage.completion_tokens) + cached * rate / 1_000_000


def estimate_cost(model: str, usage: Usage) -> float | None:
    """Cost in USD of a call with ``usage``, or ``None`` when the price is unknown.

    Cached input tokens are billed at the model's cached-input price when known.
    """
    price = price_of(model)
    return None if price is None else usage_cost(price, usage, cached_price_of(model))


def set_batch_price(model: str, input_per_mtok: float, output_per_mtok: float) -> None:
    """Set the batch-API price of ``model`` in USD per million input and output tokens."""
    if input_per_mtok < 0 or output_per_mtok < 0:
        raise ParamsError("Prices cannot be negative. "
                          "Fix: pass USD per million tokens, e.g. set_batch_price(m, 0.075, 0.3).")
    split_model(model)
    BATCH_PRICES[model] = (float(input_per_mtok), float(output_per_mtok))


def batch_price_of(model: str) -> tuple[float, float] | None:
    """The batch price: ``BATCH_PRICES[model]``, else the online price times the provider's multiplier."""
    if model in BATCH_PRICES:
        return BATCH_PRICES[model]
    price = price_of(model)
    if price is None:
        return None
    multiplier = BATCH_MULTIPLIER.get(split_model(model)[0], 1.0)
    return (price[0] * multiplier, price[1] * multiplier)


def estimate_batch_cost(model: str, usage: Usage) -> float | None:
    """Cost in USD of a call run through the batch API, or ``None`` when the price is unknown."""
    price = batch_price_of(model)
    return None if price is None else cost_of(price, usage.prompt_tokens, usage.completion_tokens)


# --- token estimates before any call (plans and budgets) ---------------------------
#: Output tokens assumed for a call without ``max_tokens``, so a plan's cost is an upper-end estimate.
DEFAULT_OUTPUT_TOKENS = 256
#: A rough, model-independent ratio: good enough for a budget check, never used for billing.
CHARS_PER_TOKEN = 4


def estimate_tokens(text_chars: int, messages: int) -> int:
    """Prompt tokens of ``messages`` messages holding ``text_chars`` characters (about 4 per token)."""
    return math.ceil(text_chars / CHARS_PER_TOKEN) + 4 * messages


def request_tokens(request: Request) -> tuple[int, int]:
    """(prompt, output) tokens a request may use: the output at ``max_tokens`` (or the default) x ``n``."""
    chars = sum(len(m["content"]) for m in request.messages)
    out = (request.params.max_tokens or DEFAULT_OUTPUT_TOKENS) * request.params.n
    return estimate_tokens(chars, len(request.messages)), out
