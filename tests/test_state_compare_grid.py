"""Issue 18 item 14 (state side): renaming variants, the inputs grid (rows x variants), and honest
parameter defaults when the variants' models differ or state none."""

from __future__ import annotations

import json

import pytest

import workbench as wb
from workbench import state as S
from workbench import testing

from .conftest import wait_until


def _tags(runner) -> list[dict]:
    return [json.loads(t) for t in runner.run_log.calls()["tags_json"]]


def test_a_renamed_variant_names_its_column_answers_and_logged_calls(runner):
    c = S.CompareState(["Short: {x}", "Long: {x}"], "mock:echo", runner=runner, x="owls")
    c.rename_variant(0, "  terse ")
    assert c.variants[0].label == "terse" and c.answers[0].label == "terse"
    c.run(timeout=10)
    assert sorted(t["variant"] for t in _tags(runner)) == ["B", "terse"]
    assert "[terse]" in c.summary_text()
    with pytest.raises(wb.ParamsError, match="already called 'B'"):
        c.rename_variant(0, "B")
    with pytest.raises(wb.ParamsError, match="cannot be empty"):
        c.rename_variant(1, "   ")
    assert [v.label for v in c.variants] == ["terse", "B"]  # a refused name changes nothing


def test_the_inputs_grid_runs_every_row_through_every_variant(runner):
    c = S.CompareState({"plain": "Say {x} to {who}", "loud": "SHOUT {x} to {who}"}, "mock:echo", runner=runner,
                       x="hi", who="Ann")
    c.add_row({"x": "hello"})
    c.add_row({"x": "bye", "who": "Bob"})
    c.add_row()
    c.set_row_value(2, "who", "Cy")
    c.run_grid(timeout=20)
    texts = [[a.text for a in row] for row in c.grid]
    assert texts == [["Say hello to Ann", "SHOUT hello to Ann"],  # a blank falls back to the shared value
                     ["Say bye to Bob", "SHOUT bye to Bob"],
                     ["Say hi to Cy", "SHOUT hi to Cy"]]
    assert all(a.status == "idle" for a in c.answers)  # the single-input answers are not touched
    assert c.counts() == {"answered": 6, "failed": 0, "stopped": 0, "needs_key": 0, "total": 6}
    assert c.status_text() == "6/6 answered"
    rows = sorted((t["row"], t["variant"]) for t in _tags(runner))
    assert rows == [(1, "loud"), (1, "plain"), (2, "loud"), (2, "plain"), (3, "loud"), (3, "plain")]
    table = c.grid_table()
    assert list(table.columns) == ["x", "who", "plain", "loud"]
    assert table.loc[1, "loud"] == "SHOUT bye to Bob" and table.loc[0, "who"] == "Ann"
    c.rate_cell(1, 0, 1, "good")
    assert c.grid[1][0].rating == 1
    assert list(runner.run_log.ratings()["call_id"]) == [c.grid[1][0].call_id]


def test_the_grid_names_the_row_that_cannot_run_and_sends_nothing(runner):
    c = S.CompareState(["A {x}", "B {x}"], "mock:echo", runner=runner)
    assert c.start_grid() is None and "no rows" in c.error
    with pytest.raises(wb.ParamsError, match="No variant uses the variable 'y'"):
        c.add_row({"y": "1"})
    c.add_row({"x": "1"})
    c.add_row()
    assert c.start_grid() is None
    assert c.error.startswith("Variant A, input row 2: ") and "{x}" in c.error
    assert runner.run_log.calls().empty
    c.set_row_value(1, "x", "2")
    assert c.error is None  # editing the grid clears the stale message


def test_stop_during_a_grid_counts_stopped_cells_apart(runner):
    model = testing.script("grid-slow", [], chunk_delay=0.05, default=" ".join(f"w{i}" for i in range(200)))
    c = S.CompareState(["A {x}", "B {x}"], model, runner=runner, max_tokens=200)
    c.add_row({"x": "1"})
    c.add_row({"x": "2"})
    c.start_grid()
    assert wait_until(lambda: any(a.text for row in c.grid for a in row), timeout=10)
    assert c.stop() and c.wait(10)
    counts = c.counts()
    assert counts["total"] == 4 and counts["stopped"] >= 1 and counts["answered"] + counts["stopped"] == 4
    assert "stopped" in c.status_text()


def test_adding_a_variant_clears_a_grid_whose_columns_no_longer_match(runner):
    c = S.CompareState(["A {x}", "B {x}"], "mock:echo", runner=runner)
    c.add_row({"x": "1"})
    c.run_grid(timeout=10)
    c.remove_variant(0)
    assert [[a.text for a in row] for row in c.grid] == [["B 1"]]
    c.add_variant()
    assert c.grid == []


def test_parameter_defaults_are_the_models_own_or_said_to_be_the_providers(runner):
    """Compare's shared controls showed 0.70 / 256 for parameters no chosen model states a default for."""
    same = S.CompareState("Hi", "local:smollm2", runner=runner)
    assert same.param_defaults() == {"temperature": 0.2, "top_p": 0.95, "max_tokens": 512}
    assert same.param_default_labels()["seed"] == "provider default"
    assert "temperature" not in same.param_default_labels()
    mixed = S.CompareState("Hi", ["local:smollm2", "mock:echo"], runner=runner)
    assert mixed.param_defaults() == {}
    labels = mixed.param_default_labels()
    assert labels["temperature"] == "smollm2 0.2 · echo: provider default"
    assert labels["max_tokens"] == "smollm2 512 · echo: provider default"
    assert labels["presence_penalty"] == "provider default"
    assert "0.7" not in " ".join(labels.values()) and "256" not in " ".join(labels.values())


def test_a_saved_notebook_keeps_the_grid_in_its_static_summary(runner):
    c = S.CompareState({"plain": "Say {x}", "loud": "SHOUT {x}"}, "mock:echo", runner=runner)
    c.add_row({"x": "one"})
    c.add_row({"x": "two"})
    c.run_grid(timeout=10)
    page = c.summary_html()
    assert "wb-static-grid" in page and "SHOUT two" in page and "<th>{x}</th>" in page
    assert "grid row 2 (x=two) [loud]: SHOUT two" in c.summary_text()
