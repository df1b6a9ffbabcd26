"""A built-in scorer as a promptfoo assertion that means exactly the same: a Python assertion that
rebuilds the scorer with the same arguments and calls it.

promptfoo's own assertions differ from the workbench's scorers in small ways that change verdicts
(``icontains`` lower-cases but does not NFKC-normalise or casefold, ``regex`` takes no flags,
``levenshtein`` measures something else than ``similarity``, ``is-refusal`` has its own phrase list).
The only way to get the same verdict on every answer is to run the same code, so each built-in
scorer exports as::

    - type: python
      value: |
        from workbench import scorers
        score = scorers.exact_match(case_sensitive=False, ...)(output, context['vars'])
        return {'pass': bool(score.passed), 'score': ..., 'reason': score.explanation}

which needs prompt-workbench installed in the Python promptfoo runs (``PROMPTFOO_PYTHON``); the
exported file's header says so. promptfoo renders assertion values as Nunjucks templates, so the
code is written never to contain ``{{``, ``{%`` or ``{#`` (braces in string arguments are escaped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["python_assertion", "REQUIRES"]

#: What the exported Python assertions need in promptfoo's Python.
REQUIRES = "prompt-workbench"


def _string(text: str) -> str:
    """A Python string literal with no brace in it (``{`` and ``}`` as ``\\x7b`` and ``\\x7d``)."""
    return repr(text).replace("{", "\\x7b").replace("}", "\\x7d")


def _literal(value: Any) -> str:
    """``value`` as Python source that promptfoo's template engine leaves alone."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items())
        return "dict()" if not items else "{ " + items + " }"  # spaces: never '{{' or '}}'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"cannot export {type(value).__name__} to a promptfoo assertion")


def python_assertion(factory: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The promptfoo assertion running ``workbench.scorers.<factory>(**kwargs)`` on each answer."""
    args = ", ".join(f"{k}={_literal(v)}" for k, v in kwargs.items())
    code = (f"from workbench import scorers\n"
            f"score = scorers.{factory}({args})(output, context['vars'])\n"
            "value = 0.0 if score.value is None else float(score.value)\n"
            "return {'pass': bool(score.passed), 'score': value, 'reason': score.explanation}\n")
    return {"type": "python", "value": code}
