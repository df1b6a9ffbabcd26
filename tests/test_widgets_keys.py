"""Issue 18, item 11 (kernel side): the keyboard shortcuts' messages run and stop every widget.

The browser side (keys pressed in Chromium, in Voila and JupyterLab) is in
``tests/browser/test_keyboard.py``; here the message the page sends is handed
to the widget as ipywidgets would hand it over.
"""

from __future__ import annotations

import workbench as wb
from workbench import testing

from .conftest import wait_until


def press(widget, action: str, field: dict | None = None) -> None:
    """What the page sends for Ctrl+Enter (``"run"``) or Esc (``"stop"``)."""
    widget.shortcuts._received(widget.shortcuts, {"action": action, "field": field}, [])


def test_every_widget_carries_the_shortcuts(runner):
    model = testing.script("keys-all", [])
    widgets = [wb.Playground("Hi", model, runner=runner), wb.Compare(["A", "B"], model, runner=runner),
               wb.Sweep("Hi", model, values=[0, 1], runner=runner)]
    for widget in widgets:
        assert widget.shortcuts in widget.children
        assert "Ctrl+Enter" in widget.run_button.tooltip and "Esc" in widget.stop_button.tooltip


def test_ctrl_enter_runs_with_the_text_just_typed(runner):
    """The key message overtook the text box's update: the run still uses the text as typed."""
    model = testing.script("keys-run", [])
    pg = wb.Playground(wb.Prompt(user="Tell me about {topic}."), model, topic="owls", runner=runner)
    press(pg, "run", {"classes": ["wb-user"], "rank": 0, "value": "Two facts about {topic}."})
    assert pg.state.wait(10)
    assert pg.user.value == pg.state.user == "Two facts about {topic}."
    assert testing.calls("keys-run")[-1].messages[-1]["content"] == "Two facts about owls."
    press(pg, "run", {"classes": ["wb-var-topic"], "rank": 0, "value": "bats"})
    assert pg.state.wait(10)
    assert testing.calls("keys-run")[-1].messages[-1]["content"] == "Two facts about bats."


def test_esc_stops_the_run(runner):
    model = testing.script("keys-stop", [" ".join(["word"] * 200)], chunk_delay=0.02)
    pg = wb.Playground("Talk.", model, runner=runner)
    press(pg, "run")
    assert wait_until(lambda: pg.state.answer.text.count("word") >= 2)
    press(pg, "stop")
    assert pg.state.wait(10)
    assert pg.state.answer.status == "stopped"
    assert pg.shortcuts.handled == 2


def test_ctrl_enter_in_the_second_compare_column_updates_that_column(runner):
    model = testing.script("keys-cmp", [])
    cmp = wb.Compare({"a": wb.Prompt(user="A."), "b": wb.Prompt(user="B.")}, model, runner=runner)
    press(cmp, "run", {"classes": ["wb-user"], "rank": 1, "value": "B, typed."})
    assert cmp.state.wait(10)
    assert sorted(c.messages[-1]["content"] for c in testing.calls("keys-cmp")) == ["A.", "B, typed."]


def test_a_failing_shortcut_is_reported_not_raised(runner):
    pg = wb.Playground(wb.Prompt(user="About {topic}."), testing.script("keys-bad", []), runner=runner)
    press(pg, "run")  # {topic} is empty: the same message as the Run button
    assert "topic" in (pg.state.error or "")
    press(pg, "jump")  # not a shortcut: ignored
    assert pg.shortcuts.handled == 1
