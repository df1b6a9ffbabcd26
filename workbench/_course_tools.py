"""The exercises of lesson 09 (structured output and tools): :func:`exercises` returns them.

Two skills that are not "output X and nothing else":

* ``09-valid-and-right``: the answer must be JSON a program can read (whole text, fits the schema) *and*
  right (the person's age, a name holding the surname): asked in words a small model rarely manages it;
  ``response_format`` makes it valid, the model still has to get the values.
* ``09-tool-arguments``: the learner writes the tool (name, description, argument schema) and the
  prompt, so that the model calls it with the order number exactly as the customer wrote it.

Robustness is what is graded, so the exercises are ``sampled``: each case is sampled at temperature 0.8
with the grader's 5 seeds (a learner's temperature or seed is reported, not used). The target (issue 17)
on SmolLM2-135M-Instruct (``local:smollm2``): each starter at or below 0.2, each reference at least 0.2
above the pass mark, at 1 and 2 llama.cpp threads: see ``MEASURED`` in ``tests/test_exercises.py``, which
re-measures both. Like
:mod:`workbench._course`, this module imports only the grader.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from ._grader import Exercise, ExerciseCase, Prompt, Response, Score

__all__ = ["exercises", "PERSON_SCHEMA"]

#: The schema every call of ``09-valid-and-right`` is constrained to.
PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}

#: Sampling shared by the exercises: robustness over 5 seeds at a temperature that varies answers.
_SAMPLED = {"temperature": 0.8}
_RUNS = 5


def _json_of(output: str) -> tuple[Any, str | None]:
    try:
        return json.loads(output), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg})"


def _right_person(output: str, case: ExerciseCase, response: Response) -> Score:
    """The whole answer is JSON that fits the schema, with the person's age and a name holding their surname.

    Read from the text itself (not ``response.parsed``): a program reads what came back, and the exercise is
    about getting that readable, asked in words or constrained by a schema.
    """
    data, why = _json_of(output.strip())
    if why is None and not isinstance(data, dict):
        why = "JSON, but not an object"
    if why is None:
        problems = sorted(e.message for e in jsonschema.Draft202012Validator(PERSON_SCHEMA).iter_errors(data))
        why = ("does not fit the schema: " + "; ".join(problems)) if problems else None
    if why is not None:
        return Score(0.0, f"a program cannot read it: {why} ({output.strip()[:40]!r})", False)
    want = case.expected
    wrong = []
    if data["age"] != want["age"]:
        wrong.append(f"age {data['age']!r} instead of {want['age']!r}")
    surname = want["name"].split()[-1]
    if surname.lower() not in str(data["name"]).lower():
        wrong.append(f"name {data['name']!r} lacks the surname {surname!r}")
    if wrong:
        return Score(0.0, "valid but wrong: " + ", ".join(wrong), False)
    return Score(1.0, "valid and right", True)


def _calls_get_order(output: str, case: ExerciseCase, response: Response) -> Score:
    """One call of a tool named ``get_order`` whose ``order_id`` is the order number exactly as written."""
    calls = response.tool_calls
    if not calls:
        return Score(0.0, f"no tool call (answered in text: {output[:40]!r})", False)
    call = calls[0]
    if call.name != "get_order":
        return Score(0.0, f"called {call.name!r}, not 'get_order'", False)
    if not call.valid:
        return Score(0.0, f"invalid arguments: {call.error}", False)
    got = (call.arguments or {}).get("order_id")
    if got != case.expected:
        return Score(0.0, f"order_id {got!r} instead of {case.expected!r}", False)
    return Score(1.0, f"get_order(order_id={got!r})", True)


# --- cases ----------------------------------------------------------------------------------
_PEOPLE = [  # every name comes with a title or a word before it that is not part of the name
    ("Dr. Helen Park, 47, leads the lab.", "Helen Park", 47),
    ("Professor Rafael Cruz is 29 years old.", "Rafael Cruz", 29),
    ("At 71, Mrs. Agnes Moor still paints every day.", "Agnes Moor", 71),
    ("Captain Yusuf Demir (age 36) flew the plane.", "Yusuf Demir", 36),
    ("The contract was signed by Ms. Clara Weiss, who is 58.", "Clara Weiss", 58),
]

_MESSAGES = [
    ("Hi, I ordered 3 lamps on 12 May, order number B-2044. Where are they?", "B-2044"),
    ("Order K-4410 still hasn't arrived and it's been 10 days.", "K-4410"),
    ("My parcel (2 boxes) for order M-0931 came damaged.", "M-0931"),
    ("Can you check order Z-7702? I paid 45 euros for express.", "Z-7702"),
    ("Hello! Order number is A-1043, delivery to 4 Elm Road.", "A-1043"),
]

# the tools of 09-tool-arguments, as raw definitions (so that a solution prints as code you can paste)
_VAGUE_TOOL = {"type": "function", "function": {
    "name": "get_order", "description": "Get an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
_PRECISE_TOOL = {"type": "function", "function": {
    "name": "get_order",
    "description": ("Look up a customer's order by its order number: one capital letter, a dash and four digits "
                    "(like K-4410), copied exactly from the customer's message."),
    "parameters": {"type": "object", "properties": {"order_id": {
        "type": "string", "pattern": "^[A-Z]-[0-9]{4}$",
        "description": "The order number exactly as written, e.g. K-4410."}}, "required": ["order_id"]}}}


def exercises() -> list[Exercise]:
    """Lesson 09's exercises, built afresh on each call (the course's registry calls this once)."""
    out: list[Exercise] = []

    out.append(Exercise(
        id="09-valid-and-right",
        title="Answers a program can read, and right",
        notebook="09",
        task=("A program will `json.loads` the answer and read `name` (a string) and `age` (an integer), so the "
              "answer must be that object and nothing else. Write a prompt (and parameters) for `{text}` whose whole "
              "answer is such an object, with the person's age and a name that holds their surname."),
        how=("Each case runs 5 times at temperature 0.8 (fixed); an answer passes when the whole text parses as "
             "JSON, fits the schema {name: string, age: integer} (both required), and has the right age and the "
             "person's surname in the name (a title may stay)."),
        variables=("text",),
        cases=tuple(ExerciseCase({"text": t}, {"name": n, "age": a}, id=n.split()[0].lower()) for t, n, a in _PEOPLE),
        checks=(_right_person,),
        params={**_SAMPLED, "max_tokens": 30},
        runs=_RUNS,
        sampled=True,
        threshold=0.6,
        starter=Prompt(system="Reply with a JSON object with the person's name and age.", user="{text}"),
        solution_params={"response_format": PERSON_SCHEMA},
        solution=Prompt(
            system="Reply with a JSON object with the person's name and age.",
            examples=(("Text: Dr. Carl Berg is 50 and drives a bus.", '{{"age": 50, "name": "Carl Berg"}}'),
                      ("Text: Little Mia Sato, 6, likes drawing.", '{{"age": 6, "name": "Mia Sato"}}'),
                      ("Text: The speech was given by Professor Ravi Nair, aged 63.",
                       '{{"age": 63, "name": "Ravi Nair"}}')),
            user="Text: {text}",
        ),
        hints=(
            "Asked in words, a small model adds text around the JSON, forgets a quote or writes the age as a "
            "string: run the starter and read the failures.",
            "Section 1 of this lesson measured three ways to ask for JSON: which one made every answer valid?",
            "Pass the schema itself: check(..., response_format={'type': 'object', 'properties': {'name': "
            "{'type': 'string'}, 'age': {'type': 'integer'}}, 'required': ['name', 'age']}). On the local model the "
            "grammar then only lets the model write an object that fits it.",
            "Valid is not right: if some ages are invented, label the text ('Text: ...') and show two or three "
            "worked examples (a text and its JSON, braces doubled: '{{...}}').",
        ),
        explanation=("Asking in words leaves the format to the model, and a 135M model rarely returns bare, "
                     "well-typed JSON at temperature 0.8. `response_format` turns the schema into a grammar, so "
                     "every answer is an object with a string name and an integer age; the content (the age, the "
                     "surname) still comes from the model, and worked examples make it copy the right number more "
                     "often, which is why the check reads it too."),
    ))

    out.append(Exercise(
        id="09-tool-arguments",
        title="A tool the model calls with the right arguments",
        notebook="09",
        task=("Write a tool named `get_order` with one string argument `order_id`, and a prompt for the customer's "
              "`{message}`, so that the model calls `get_order` with the order number exactly as the customer wrote "
              "it (`B-2044`, not `2044` or `3`). Pass your tool with `check(..., tools=[get_order])`."),
        how=("Each case runs 5 times at temperature 0.8 (fixed) with `tool_choice='required'`; an answer passes when "
             "its first tool call is `get_order` with `order_id` equal to the order number. The tool's name, "
             "description and argument schema are part of what the model reads."),
        variables=("message",),
        cases=tuple(ExerciseCase({"message": m}, oid, id=oid) for m, oid in _MESSAGES),
        checks=(_calls_get_order,),
        params={**_SAMPLED, "max_tokens": 40, "tool_choice": "required"},
        fixed=frozenset({"tool_choice"}),
        sampled=True,
        tools=(_VAGUE_TOOL,),
        runs=_RUNS,
        solution_params={"tools": [_PRECISE_TOOL]},
        threshold=0.6,
        starter=Prompt(user="{message}"),
        solution=Prompt(
            system="You help customers with their orders. Call get_order with the order number exactly as written.",
            user="{message}",
        ),
        hints=(
            "The model sees the tool's name, description and argument schema: 'Get an order.' tells it nothing about "
            "what an order number looks like.",
            "Describe the argument: what an order number looks like (a letter, a dash, four digits) and that it must "
            "be copied exactly. A docstring or a raw definition's 'description' does this.",
            "Constrain it: a raw tool definition may give the argument a JSON-schema 'pattern' (such as "
            "'^[A-Z]-[0-9]{4}$'); on the local model the grammar then cannot write anything else. Pass "
            "tools=[{'type': 'function', 'function': {...}}].",
        ),
        explanation=("The description says what an order number looks like and the pattern in the argument schema "
                     "makes llama.cpp's grammar allow only that shape, so the model can only copy a real order number; "
                     "the system message says which one."),
    ))

    return out
