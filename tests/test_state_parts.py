"""The state package's parts, alone: observation, throttling, answers, the parameter form, the layout.

No model and no ipywidgets here; the states themselves are tested in
``test_state_playground.py``, ``test_state_compare.py`` and ``test_state_sweep.py``.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import workbench as wb
from workbench import state as S
from workbench._types import Delta

STATE_DIR = Path(S.__file__).parent


def test_variables_in_tolerates_half_typed_templates():
    assert S.variables_in("Role {role}", "About {topic} and {role}") == ["role", "topic"]
    assert S.variables_in(None, "About {topic} and {unfinished") == ["topic"]
    assert S.variables_in(None, "JSON {{not}} a var, {x}") == ["x"]
    assert S.variables_in(None, "", [("Q {q}", "A")]) == ["q"]


def test_param_specs_come_from_the_schema():
    specs = {s.name: s for s in S.param_specs()}
    # tool_choice: the tools panel; the token parameters: the "Tokens" toggle, not a slider of the form
    assert list(specs) == [n for n in wb.Params.model_fields if n not in ("tool_choice", "logprobs", "top_logprobs")]
    t = specs["temperature"]
    assert (t.kind, t.low, t.high, t.optional) == ("float", 0.0, 2.0, True)
    assert "Randomness" in t.description
    assert specs["max_tokens"].kind == "int" and specs["max_tokens"].high == 32768
    assert specs["n"].kind == "count" and not specs["n"].optional and specs["n"].default == 1
    assert specs["stop"].kind == "strings" and specs["stop"].max_items == 4


def test_build_params_treats_blank_as_unset_and_reports_bad_values():
    assert S.build_params({"temperature": 0.5, "seed": None, "stop": []}).set() == {"temperature": 0.5}
    with pytest.raises(wb.ParamsError, match="temperature=3"):
        S.build_params({"temperature": 3})


def test_throttle_flushes_at_most_every_interval_and_always_at_the_end():
    flushed = []
    throttle = S.Throttle(lambda: flushed.append(time.monotonic()), interval=0.05)
    for _ in range(200):
        throttle.poke()
    assert len(flushed) == 1  # the first poke flushes; the rest fall in the same interval (no loop: no timer)
    throttle.final()
    assert len(flushed) == 2


def test_throttle_schedules_a_trailing_flush_on_a_running_loop():
    flushed = []

    async def main():
        throttle = S.Throttle(lambda: flushed.append(1), interval=0.03)
        throttle.poke()
        throttle.poke()  # too soon: scheduled
        await asyncio.sleep(0.1)

    # in a thread of its own: Playwright's sync API may already run a loop in this one
    worker = threading.Thread(target=lambda: asyncio.run(main()))
    worker.start()
    worker.join(10)
    assert len(flushed) == 2


def test_answer_applies_deltas_resets_and_samples():
    a = S.Answer()
    a.begin(2)
    for d in [Delta("Hel"), Delta("lo"), Delta("Yo", 1)]:
        a.apply(d)
    assert a.texts == ["Hello", "Yo"] and a.first_delta_s is not None
    a.apply(Delta("", 0, reset=True))
    assert a.texts == ["", ""]


def test_observers_hear_attribute_changes_and_survive_a_bad_listener(runner):
    s = S.PlaygroundState(wb.Prompt(user="Tell me about {topic}"), "local:smollm2", runner=runner, max_tokens=12)
    heard = []
    s.observe(heard.append)
    s.observe(lambda name: 1 / 0)
    s.user = "changed {x}"
    s.set_variable("x", "1")
    assert heard == ["user", "variables"]
    assert s.listener_errors and "ZeroDivisionError" in s.listener_errors[0]


def test_the_state_module_does_not_import_ipywidgets():
    code = "import workbench.state, sys; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_one_module_per_concern_none_over_400_lines_and_no_old_session_module():
    sizes = {p.name: len(p.read_text().splitlines()) for p in STATE_DIR.glob("*.py")}
    assert {"playground.py", "compare.py", "sweep.py", "base.py", "versions.py", "params_form.py"} <= set(sizes)
    assert max(sizes.values()) <= 400, sizes
    assert not (STATE_DIR.parent / "_session.py").exists()


def test_state_and_widget_modules_import_their_siblings_at_the_top():
    """Function-level imports of workbench modules hide the dependency graph (cards.py's are for types only)."""
    inside = []
    for path in [*STATE_DIR.glob("*.py"), *(STATE_DIR.parent / "widgets").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and node.level > 0:
                        inside.append(f"{path.name}:{node.lineno}")
    assert inside == []


# --------------------------------------------------------------------------- #
# Issue 18: parameters shown as they are used
# --------------------------------------------------------------------------- #


def test_unset_parameters_show_the_providers_default_for_the_model(runner):
    """Item 3: unticked controls showed 0.70 and 256 where the local model uses 0.2 and 512."""
    from workbench.providers._local import LOCAL_DEFAULTS

    s = S.PlaygroundState("Hi", "local:smollm2", runner=runner, top_p=0.5)
    shown = s.shown_params()
    assert shown["temperature"] == LOCAL_DEFAULTS["temperature"] == 0.2
    assert shown["max_tokens"] == LOCAL_DEFAULTS["max_tokens"] == 512
    assert shown["top_p"] == 0.5  # a set value is shown as set
    assert s.param_defaults() == LOCAL_DEFAULTS
    s.model = "mock:anything"
    assert s.param_defaults() == {}  # a provider that does not say: nothing is claimed


def test_out_of_range_values_are_clamped_with_a_note(runner):
    """Item 4: temperature 5 became 2.00 and max_tokens 0 became 1 without a word."""
    s = S.PlaygroundState("Hi", "local:smollm2", runner=runner)
    note = s.set_param_typed("temperature", 5)
    assert s.params["temperature"] == 2 and note and "5" in note and "2" in note and "temperature" in note
    assert s.param_notes["temperature"] == note
    assert s.set_param_typed("max_tokens", 0) and s.params["max_tokens"] == 1
    assert "max_tokens" in s.param_notes
    assert s.set_param_typed("temperature", 0.5) is None and s.params["temperature"] == 0.5
    assert "temperature" not in s.param_notes  # an accepted value clears its note
