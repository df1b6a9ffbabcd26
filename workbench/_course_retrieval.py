"""The exercise of lesson 10 (retrieval with citations): :func:`exercises` returns it.

``10-verifiable-citation``: each case is three numbered sources (``format_sources``: the one holding
the answer and two distractors) and a question about a product that does not exist. The answer must
carry a citation a reader can check: one ``[n]`` of a source that exists, with words copied from
that source (:func:`workbench._citations.check_citations` does the looking up, as in the lesson).
Asked for "the number in brackets", SmolLM2 cites nothing, a source that does not exist, or a
source that does not say what the answer says; copying a line of the sources, number included,
binds the number to the words.

What is *not* graded, and why: whether the cited source is the one that answers the question. The
first design graded it (pass mark 0.6). On SmolLM2 at temperature 0.8 the six prompts tried (line
copying with 3 or 5 worked examples, with and without a system message, the question first, the
sentence before its number, scanning the sources one by one) reached 0.16 to 0.40 of answers citing
the right source, about what copying a random line gives (1 in 3), so no pass mark would have been
meaningful. The feedback still says, for each passing answer, whether it cited the source with the
answer; notebook 10 measures it, and on a stronger model when one is available.

Robustness is what is graded, so the exercise is ``sampled``: each case is sampled at temperature
0.8 with the grader's 5 seeds. The target (issue 17) on SmolLM2-135M-Instruct (``local:smollm2``):
starter at or below 0.2, reference at least 0.2 above the pass mark, at 1 and 2 llama.cpp threads
(``MEASURED`` in ``tests/test_exercises.py``). Like :mod:`workbench._course`, this module imports
only the grader, and the citation check.
"""

from __future__ import annotations

import random
import re

from ._citations import check_citations, format_sources
from ._grader import Exercise, ExerciseCase, Prompt, Response, Score

__all__ = ["exercises", "CITE_CASES"]

_SAMPLED = {"temperature": 0.8}
_RUNS = 5

# (the source holding the answer, the question, the words the answer must hold)
_FACTS = [
    ("The Orion desk lamp weighs 2 kilograms.", "How much does the Orion desk lamp weigh?", "2 kilograms"),
    ("The Vega chair is made of walnut.", "What wood is the Vega chair made of?", "walnut"),
    ("The Nova blender has a warranty of 7 years.", "How many years is the Nova blender's warranty?", "7 years"),
    ("The Lynx bicycle is assembled in Porto.", "Where is the Lynx bicycle assembled?", "Porto"),
    ("The Dorado rug is woven from jute.", "What is the Dorado rug woven from?", "jute"),
]
# distractors: facts about other products, none answering a case's question
_OTHERS = [
    "The Fornax oven reaches 280 degrees.", "The Mensa pillow is filled with buckwheat husks.",
    "The Hydra hose is 25 metres long.", "The Caelum speaker plays for 14 hours.",
    "The Corvus printer prints 30 pages per minute.", "The Draco tent sleeps four people.",
    "The Sextans clock runs on two AA batteries.", "The Pavo watch is waterproof to 50 metres.",
]


def _build_cases() -> tuple[tuple[list[str], str, str, int], ...]:
    """(sources, question, words, number of the source with the answer): fixed shuffles, the answer in each slot."""
    rng = random.Random(10)
    out = []
    for i, (fact, question, words) in enumerate(_FACTS):
        others = rng.sample(_OTHERS, 2)
        slot = [1, 3, 2, 3, 2][i]  # the answer is not always first, nor always in the same place
        sources = others[: slot - 1] + [fact] + others[slot - 1:]
        out.append((sources, question, words, slot))
    return tuple(out)


_CITE_OR_QUOTE = re.compile(r'\[\s*\d+\s*\]|["“”«»]')

#: The cases as plain data: ``(sources, question, expected words, source number)``.
CITE_CASES = _build_cases()


def _verifiable(output: str, case: ExerciseCase, response: Response) -> Score:
    """One citation of a source that exists, and the answer's words copied from that source (a reader can check it).

    Whether the cited source is the one that answers the question is said in the explanation, not graded
    (see the module docstring).
    """
    sources, number = case.expected["sources"], case.expected["source"]
    check = check_citations(output, sources)  # a citation, of a source that exists; quotes found in the sources
    problems = list(check.problems)
    if len(check.cited) > 1:
        problems.append(f"cites {check.cited}: give the one source your words come from")
    elif check.cited and not check.unknown:
        n = check.cited[0]
        words = _CITE_OR_QUOTE.sub(" ", output).strip(" .:;,-")
        if len(words.split()) < 3:
            problems.append(f"cites [{n}] but gives no words of it to check")
        elif not check_citations(f'"{words}" [{n}]', sources).ok:
            problems.append(f"its words are not copied from [{n}] ({words[:40]!r})")
    if problems:
        return Score(0.0, "; ".join(problems), False)
    n = check.cited[0]
    which = "the source with the answer" if n == number else f"a true citation, though [{number}] holds the answer"
    return Score(1.0, f"cites [{n}] and copies it: {which}", True)


def exercises() -> list[Exercise]:
    """Lesson 10's exercise, built afresh on each call (the course's registry calls this once)."""
    cases = tuple(
        ExerciseCase({"sources": format_sources(sources), "question": question},
                     {"sources": sources, "words": words, "source": number},
                     id=sources[number - 1].split()[1].casefold())
        for sources, question, words, number in CITE_CASES
    )
    return [Exercise(
        id="10-verifiable-citation",
        title="A citation a reader can check",
        notebook="10",
        task=("Each case gives three numbered `{sources}` (as `wb.format_sources` writes them) and a `{question}`. "
              "Write a prompt whose answer a reader can verify: it cites one source that exists, as `[n]`, and its "
              "words are copied from that source, so that following the citation shows them."),
        how=("Each case runs 5 times at temperature 0.8 (fixed). An answer passes when `wb.check_citations` finds a "
             "citation of a source that exists (and any quoted passage in the sources), it cites one source only, "
             "and its words (at least three, citations and quotation marks aside) are in that source. Whether the "
             "cited source is the one that answers the question is said in the feedback, not graded: on SmolLM2 no "
             "prompt tried picked the right line reliably (section 3 counts it)."),
        variables=("sources", "question"),
        cases=cases,
        checks=(_verifiable,),
        params={**_SAMPLED, "max_tokens": 40},
        runs=_RUNS,
        sampled=True,
        threshold=0.6,
        starter=Prompt(
            system=("Answer the question using only the sources. After the answer, write the number of the source "
                    "you used in brackets, like [2]."),
            user="{sources}\n\nQuestion: {question}",
        ),
        solution_params={"stop": ["\n"]},
        solution=Prompt(
            examples=(
                ("<sources>\n[1] The Lyra kettle holds 1.7 litres of water.\n[2] The Atlas backpack is sold in olive "
                 "green.\n[3] The Tucana mug is made of enamelled steel.\n</sources>\n\n"
                 "Question: Which colour is the Atlas backpack sold in?",
                 "[2] The Atlas backpack is sold in olive green."),
                ("<sources>\n[1] The Aquila drone flies for 22 minutes on one charge.\n[2] The Volans kite is "
                 "recommended for children over 8.\n[3] The Cygnus sofa is delivered by Rapid Freight.\n</sources>\n\n"
                 "Question: Which company delivers the Cygnus sofa?",
                 "[3] The Cygnus sofa is delivered by Rapid Freight."),
                ("<sources>\n[1] The Pyxis compass was designed by Ines Moreau.\n[2] The Tucana mug is made of "
                 "enamelled steel.\n[3] The Lyra kettle holds 1.7 litres of water.\n</sources>\n\n"
                 "Question: Who designed the Pyxis compass?",
                 "[1] The Pyxis compass was designed by Ines Moreau."),
            ),
            user="{sources}\n\nQuestion: {question}",
        ),
        hints=(
            "Read the failures: no citation, a source that does not exist, or words that are in no source?",
            "A small model links a sentence of its own to a number poorly. The sources already carry their "
            "numbers: what if the answer copied a whole line of the sources, number included?",
            "Show it: two or three worked examples (sources, question, and the answer '[2] <that line>'), with the "
            "line in a different place each time, and stop=['\\n'] so that the answer ends after the line.",
        ),
        explanation=("Copying a line of the sources, its '[n]' first, turns citing into copying: the number and the "
                     "words come together, so the citation points to where the words are. The examples show the "
                     "layout with the line in each of the three places, and the stop sequence ends the answer after "
                     "one line, before the model adds an uncited claim. Which line the model copies is another "
                     "matter: SmolLM2 often copies a distractor, which the feedback shows; a stronger model (section "
                     "5) is what picks the right one."),
    )]
