"""Answers grounded in given sources: number the sources for a prompt, then check the citations in code.

Retrieval-augmented prompts ask a model to answer *from* the sources it is given and to say which
one each claim comes from, ideally quoting it. A model can cite a source that does not exist, cite
the wrong one, or "quote" words that are in no source at all; reading the answer does not reveal
it, a check in code does. :func:`check_citations` finds the ``[n]`` markers and the quoted
passages of an answer and looks each quote up in the sources (exact after normalising spaces,
quotes and case; else a fuzzy partial match at ``threshold``, so that a dropped comma still counts
and an invented sentence does not).

>>> sources = ["The Orion lamp ships within 3 days.", "The Vega chair is made of oak."]
>>> check = check_citations('It ships "within 3 days" [1].', sources)
>>> check.ok, check.cited, [q.source for q in check.quotes]
(True, [1], [1])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ScorerError

__all__ = ["format_sources", "check_citations", "CitationCheck", "Quote", "as_sources"]

_CITE = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
_QUOTE = re.compile(r'"([^"\n]{3,}?)"|“([^”\n]{3,}?)”|«\s*([^»\n]{3,}?)\s*»')
_SPACES = re.compile(r"\s+")
_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def as_sources(sources: Any) -> dict[int, str]:
    """Sources numbered from 1: a list of texts, or a mapping ``{number: text}``.

    Why one shape: the prompt (``format_sources``) and the check must agree on what ``[2]`` means.
    """
    if isinstance(sources, str):
        raise ScorerError("Sources must be a list of texts (or a dict {number: text}), not one string. "
                          "Fix: pass [text1, text2, ...]; a case column holding a list works too.")
    if isinstance(sources, Mapping):
        try:
            return {int(k): str(v) for k, v in sources.items()}
        except (TypeError, ValueError) as err:
            raise ScorerError(f"Source numbers must be integers ({err}). Fix: {{1: 'text', 2: 'text'}}.") from None
    if isinstance(sources, Sequence):
        return {i: str(text) for i, text in enumerate(sources, 1)}
    raise ScorerError(f"Sources must be a list of texts, not {type(sources).__name__}. Fix: [text1, text2, ...].")


def format_sources(sources: Any, *, title: str = "Sources") -> str:
    """The sources as a numbered block for a prompt: ``[1] text`` per line, between delimiters.

    The delimiters mark the sources as data (an instruction hidden in a retrieved page is then
    less likely to be obeyed, see notebook 06) and the numbers are what the answer cites.
    """
    numbered = as_sources(sources)
    lines = [f"[{n}] {_SPACES.sub(' ', text).strip()}" for n, text in sorted(numbered.items())]
    return f"<{title.lower()}>\n" + "\n".join(lines) + f"\n</{title.lower()}>"


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return _SPACES.sub(" ", text).strip(" .,;:")


@dataclass(frozen=True)
class Quote:
    """One quoted passage: where it was said to come from and where it was found (``None``: nowhere)."""

    text: str
    cited: tuple[int, ...]
    source: int | None
    similarity: float

    @property
    def supported(self) -> bool:
        """Found in a source, and in a cited one when the quote carries a citation."""
        return self.source is not None and (not self.cited or self.source in self.cited)


@dataclass(frozen=True)
class CitationCheck:
    """What :func:`check_citations` found, with ``ok`` and a one-line ``explanation``."""

    cited: list[int]
    unknown: list[int]
    quotes: list[Quote]
    require_quote: bool
    expected: tuple[int, ...] = ()
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def explanation(self) -> str:
        if self.ok:
            quoted = f", {len(self.quotes)} quote{'s' if len(self.quotes) != 1 else ''} found in the sources"
            return f"cites {self.cited}" + (quoted if self.quotes else "")
        return "; ".join(self.problems)


def _quotes(answer: str) -> list[tuple[str, int]]:
    """(quoted text, end offset) for each quoted passage of at least two words."""
    out = []
    for m in _QUOTE.finditer(answer):
        text = next(g for g in m.groups() if g is not None).strip()
        if len(text.split()) >= 2:
            out.append((text, m.end()))
    return out


def _citations_after(answer: str, offset: int) -> tuple[int, ...]:
    """The citation markers right after a quote, before the sentence ends (``"..." [2]``)."""
    tail = answer[offset:offset + 40]
    stop = re.search(r"[.!?\n](?:\s|$)", tail)
    m = _CITE.search(tail[: stop.start() + 1] if stop else tail)
    return tuple(int(x) for x in re.split(r"[,;]", m.group(1))) if m else ()


def _find(quote: str, sources: dict[int, str], threshold: float) -> tuple[int | None, float]:
    """The source holding ``quote`` (exact after normalising, else the best fuzzy match)."""
    from rapidfuzz import fuzz

    q = _norm(quote)
    best: tuple[int | None, float] = (None, 0.0)
    for n, text in sources.items():
        t = _norm(text)
        if q in t:
            return n, 1.0
        score = fuzz.partial_ratio(q, t) / 100.0
        if score > best[1]:
            best = (n, score)
    return best if best[1] >= threshold else (None, best[1])


def check_citations(answer: str, sources: Any, *, require_quote: bool = False, expected: Any = None,
                    threshold: float = 0.9) -> CitationCheck:
    """Check an answer's ``[n]`` citations and quoted passages against ``sources``.

    Problems reported: no citation; a citation of a source that does not exist; a quote found in
    no source, or in another source than the one cited right after it; no quote when
    ``require_quote``; the ``expected`` source(s) (the one holding the answer) not cited.
    """
    if not 0 < threshold <= 1:
        raise ScorerError(f"threshold={threshold} must be in (0, 1]. Fix: e.g. threshold=0.9.")
    numbered = as_sources(sources)
    cited = sorted({int(x) for m in _CITE.finditer(answer) for x in re.split(r"[,;]", m.group(1))})
    unknown = [n for n in cited if n not in numbered]
    quotes = [Quote(text, _citations_after(answer, end), *_find(text, numbered, threshold))
              for text, end in _quotes(answer)]
    want = tuple(int(x) for x in (expected if isinstance(expected, (list, tuple)) else [expected])
                 if x is not None and str(x).strip() != "")
    problems = []
    if not cited:
        problems.append("no citation like [1]")
    if unknown:
        problems.append(f"cites {unknown}, which {'is' if len(unknown) == 1 else 'are'} not a source "
                        f"(there are {len(numbered)})")
    for q in quotes:
        if q.source is None:
            problems.append(f"quote {q.text[:50]!r} is in no source (best match {q.similarity:.2f})")
        elif not q.supported:
            problems.append(f"quote {q.text[:50]!r} is from [{q.source}], not from {list(q.cited)}")
    if require_quote and not quotes:
        problems.append("no quoted passage")
    missing = [n for n in want if n not in cited]
    if missing:
        problems.append(f"does not cite {missing}, the source with the answer")
    return CitationCheck(cited, unknown, quotes, require_quote, want, problems)
