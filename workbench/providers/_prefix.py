"""How many prompt tokens llama.cpp took from its KV cache: local prompt caching, measured.

``Llama.generate`` compares a new prompt's tokens with the tokens its context
already holds (``Llama._input_ids``) and keeps the longest common prefix: only
the rest is evaluated (at least one token, to refresh the logits; none when
the whole prompt is already there). That is prompt caching, as hosted APIs do
it for prefixes they saw recently, and it is why a long, stable system prompt
put *first* makes the next call faster.

:func:`prefix_reuse` counts it where it happens rather than predicting it: the
first ``eval`` of a generation starts at ``n_tokens``, the number of prompt
tokens kept from the previous evaluation (0 after a reset). It wraps the
instance's ``eval`` for one generation, under the provider's lock (nothing
else uses the model meanwhile), and restores it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["PrefixReuse", "prefix_reuse"]


class PrefixReuse:
    """What the first evaluation of a generation found in the KV cache."""

    def __init__(self) -> None:
        self.cached_tokens = 0
        self.prompt_tokens: int | None = None  # the prompt's length as evaluated (None: nothing evaluated)


@contextmanager
def prefix_reuse(llama: Any) -> Iterator[PrefixReuse]:
    """Count, for the generation run inside the block, the prompt tokens reused from the KV cache."""
    seen = PrefixReuse()
    original = llama.eval  # the bound method

    def counting_eval(tokens: Sequence[int]) -> Any:
        if seen.prompt_tokens is None:
            seen.cached_tokens = int(llama.n_tokens)
            seen.prompt_tokens = int(llama.n_tokens) + len(tokens)
        return original(tokens)

    llama.eval = counting_eval
    try:
        yield seen
    finally:
        del llama.eval  # the class's method again
