"""The widget views, driven programmatically: set values, click, and check state, log and display.

No browser here (see ``tests/browser`` for that): ipywidgets objects work
without a front end, so these tests type into the same widget values the
browser would change, click the same buttons, wait for the portal and read
what the views show.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys

import ipywidgets as w
import pytest

import workbench as wb

from .conftest import PLANTED_KEY, wait_until


def walk(widget):
    """Every widget under ``widget`` (containers and accordions included)."""
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from walk(child)


def with_class(root, name):
    return [x for x in walk(root) if isinstance(x, w.DOMWidget) and name in x._dom_classes]


def shown(widget) -> bool:
    return widget.layout.display != "none"


def text_of(html_widget) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", html_widget.value))


def test_import_workbench_stays_lazy_about_ipywidgets():
    code = "import workbench, sys; assert 'ipywidgets' not in sys.modules; workbench.Playground; " \
           "print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert {"Playground", "Compare", "Sweep"} <= set(wb.__all__)


# --------------------------------------------------------------------------- #
# Playground
# --------------------------------------------------------------------------- #


def test_playground_layout_and_css_classes(runner):
    pg = wb.Playground(wb.Prompt(system="Be brief.", user="Hi"), "local:smollm2", runner=runner, temperature=0.7)
    assert isinstance(pg, w.VBox) and {"wb-root", "wb-playground"} <= set(pg._dom_classes)
    for css in ("wb-run", "wb-stop", "wb-system", "wb-user", "wb-answer", "wb-params", "wb-model", "wb-error"):
        assert with_class(pg, css), css
    assert pg.system.value == "Be brief." and pg.user.value == "Hi"
    assert pg.model.value == "local:smollm2" and "local:smollm2" in pg.model.options[0][0]
    assert pg.params.controls["temperature"].value == 0.7 and pg.params.toggles["temperature"].value
    assert not pg.params.toggles["seed"].value  # unset = provider default
    assert "Randomness" in pg.params.controls["temperature"].tooltip
    assert pg.params.sliders["temperature"].max == 2.0  # the slider is bounded; the number box takes any value
    assert pg.stop_button.disabled and not pg.run_button.disabled


def test_variable_fields_follow_the_prompt(runner):
    pg = wb.Playground("Hi", "local:smollm2", runner=runner)
    assert not with_class(pg, "wb-var")
    pg.user.value = "Tell me about {topic} in {style"  # half typed: topic appears already
    assert [f.description for f in with_class(pg.variables, "wb-var")] == ["topic"]
    pg.user.value = "Tell me about {topic} in {style} style"
    fields = with_class(pg.variables, "wb-var")
    assert [f.description for f in fields] == ["topic", "style"]
    assert with_class(pg, "wb-var-topic")
    pg.variable_field("topic").value = "owls"
    assert pg.state.variables["topic"] == "owls"
    pg.user.value = "Tell me about it in {style} style"
    assert [f.description for f in with_class(pg.variables, "wb-var")] == ["style"]
    pg.user.value = "Tell me about {topic}"  # comes back with its value
    assert pg.variable_field("topic").value == "owls"


def test_param_controls_set_and_unset_parameters(runner):
    pg = wb.Playground("Hi", "local:smollm2", runner=runner)
    pg.params.controls["temperature"].value = 0.3
    assert pg.state.params["temperature"] == 0.3 and pg.params.toggles["temperature"].value
    pg.params.toggles["temperature"].value = False
    assert "temperature" not in pg.state.params
    assert "wb-unset" in pg.params.controls["temperature"]._dom_classes
    pg.params.controls["stop"].value = ["\\n\\n", "END"]
    assert pg.state.params["stop"] == ["\n\n", "END"]
    pg.params.controls["n"].value = 3
    assert pg.state.params["n"] == 3
    pg.state.set_param("seed", 42)  # code -> view
    assert pg.params.controls["seed"].value == 42 and pg.params.toggles["seed"].value


def test_setting_state_from_code_refreshes_the_view(runner):
    pg = wb.Playground("Hi", "local:smollm2", runner=runner)
    pg.state.user = "About {x}"
    pg.state.system = "Sys"
    pg.state.model = "openai:gpt-4o-mini"
    assert pg.user.value == "About {x}" and pg.system.value == "Sys" and pg.model.value == "openai:gpt-4o-mini"
    assert with_class(pg, "wb-var-x")
    assert shown(pg.key) and "OPENAI_API_KEY" in pg.key.label.value  # no key: the password field shows
    pg.state.variables["x"] = "y"
    pg.refresh()
    assert pg.variable_field("x").value == "y"


def test_validation_errors_show_in_the_widget(runner):
    pg = wb.Playground("About {topic}", "local:smollm2", runner=runner)
    pg.run_button.click()
    assert shown(pg.messages.error) and "{topic}" in text_of(pg.messages.error)
    assert runner.run_log.count() == 0 and not pg.state.running
    pg.variable_field("topic").value = "owls"
    pg.state.params["temperature"] = 5  # bypassing the slider's bounds
    pg.run_button.click()
    assert "temperature must be" in text_of(pg.messages.error)
    pg.state.set_param("temperature", None)
    pg.model.value = pg.model.options[0][1]
    pg.state.model = "local:nope"
    pg.run_button.click()
    assert "Unknown model 'local:nope'" in text_of(pg.messages.error)


def test_a_failing_callback_never_raises_into_the_front_end(runner, monkeypatch):
    pg = wb.Playground("Hi", "local:smollm2", runner=runner)
    monkeypatch.setattr(pg.state, "start", lambda: 1 / 0)
    pg.run_button.click()  # would print a traceback to the browser console if unguarded
    assert "ZeroDivisionError" in text_of(pg.messages.error)


@pytest.mark.local_model
def test_run_streams_into_the_answer_with_figures_and_rating(runner):
    pg = wb.Playground("Tell me about {topic}", "local:smollm2", runner=runner, max_tokens=16, seed=1,
                       temperature=0.2)
    pg.variable_field("topic").value = "owls"
    pg.run_button.click()
    assert pg.state.running and pg.run_button.disabled and not pg.stop_button.disabled
    assert pg.state.wait(120)
    answer = pg.answer.samples.children[0]
    assert "wb-answer" in answer._dom_classes
    text = pg.state.answer.text
    assert text.strip() and text_of(answer).strip() == text.strip()
    assert "tokens in" in text_of(pg.answer.figures) and "latency" in text_of(pg.answer.figures)
    assert not pg.run_button.disabled and pg.stop_button.disabled and "done in" in pg.status.value
    assert shown(pg.answer.rating)
    pg.answer.up.click()
    assert runner.run_log.ratings()["rating"].tolist() == [1] and pg.answer.up.button_style == "success"
    pg.answer.note.value = "short and right"
    assert runner.run_log.ratings()["note"].tolist() == ["short and right"]
    pg.answer.up.click()  # clicking again takes the thumb back
    assert runner.run_log.ratings()["rating"].isna().all() and pg.answer.up.button_style == ""


def test_streaming_updates_are_throttled(fake_model, runner, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.responder = lambda body: " ".join(f"w{i}" for i in range(300))
    keyed_fake.chunk_delay = 0.001
    pg = wb.Playground("Go {x}", fake_model, runner=runner, x="1", max_tokens=300)
    updates = []
    pg.answer.samples.children[0].observe(lambda c: updates.append(c["new"]), names="value")
    pg.run_button.click()
    assert pg.state.wait(30)
    assert pg.state.answer.text.endswith("w299")
    assert "w299" in updates[-1]  # always flushed at the end
    assert len(updates) < 150, len(updates)  # 300 deltas, far fewer widget updates
    assert pg.answer.throttle.calls < 150


def test_n_greater_than_one_shows_samples_side_by_side(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    pg = wb.Playground("Go {x}", fake_model, runner=runner, x="1", n=3)
    pg.run_button.click()
    assert pg.state.wait(30)
    boxes = pg.answer.samples.children
    assert len(boxes) == 3 and all("Echo: Go 1" in text_of(b) for b in boxes)
    assert "sample 3" in text_of(boxes[2])
    assert "repeat(auto-fit" in pg.answer.samples.layout.grid_template_columns


def test_stop_button_stops_the_stream(fake_model, runner, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.responder = lambda body: " ".join(f"w{i}" for i in range(500))
    keyed_fake.chunk_delay = 0.01
    pg = wb.Playground("Go {x}", fake_model, runner=runner, x="1", max_tokens=500)
    pg.run_button.click()
    assert wait_until(lambda: len(pg.state.answer.text) > 10)
    pg.stop_button.click()
    assert pg.state.wait(10)
    assert pg.state.answer.status == "stopped" and "Stopped" in text_of(pg.answer.error)
    assert pg.stop_button.disabled and not pg.run_button.disabled and "stopped" in pg.status.value
    assert runner.run_log.calls()["error_type"].tolist() == ["CancelledRunError"]


def test_provider_failure_shows_one_message_under_the_answer(fake_model, log, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.script(["429-no-retry-after"])
    runner = wb.Runner(log=log, progress=False, max_retries=0)
    pg = wb.Playground("Go {x}", fake_model, runner=runner, x="1")
    pg.run_button.click()
    assert pg.state.wait(30)
    assert shown(pg.answer.error) and "RateLimit" not in text_of(pg.answer.error)
    assert "429" in text_of(pg.answer.error) and "Traceback" not in text_of(pg.answer.error)
    assert not shown(pg.answer.figures)


# --------------------------------------------------------------------------- #
# Keys never stay in widget state
# --------------------------------------------------------------------------- #


def _all_state(root) -> str:
    return json.dumps([x.get_state() for x in walk(root)], default=str)


def test_key_prompt_takes_the_key_and_clears_the_field(fake_model, runner):
    pg = wb.Playground("Go {x}", fake_model, runner=runner, x="1")
    assert shown(pg.key) and "FAKEAPI_KEY" in pg.key.label.value
    pg.run_button.click()
    assert "FAKEAPI_KEY" in text_of(pg.messages.error)

    pg.key.password.value = PLANTED_KEY  # what the browser sends when the user presses Enter
    assert pg.key.password.value == ""
    assert not shown(pg.key) and not shown(pg.messages.error)
    assert "FAKEAPI_KEY" in text_of(pg.messages.info) and PLANTED_KEY not in pg.messages.info.value
    pg.run_button.click()
    assert pg.state.wait(30) and pg.state.answer.text == "Echo: Go 1"

    bundle = json.dumps(pg._repr_mimebundle_())
    for where in (_all_state(pg), bundle, pg.state.summary_text(), repr(vars(pg.state))):
        assert PLANTED_KEY not in where
    assert PLANTED_KEY not in runner.run_log.calls().to_json()


def test_key_button_path_and_compare_key(fake_model, runner):
    cmp = wb.Compare(["Go {x}", "Again {x}"], fake_model, runner=runner, x="1")
    assert shown(cmp.key)
    cmp.key.password.value = ""
    cmp.key._submit(PLANTED_KEY)  # the "Use key" button with a value already synced
    assert cmp.key.password.value == "" and not shown(cmp.key)
    cmp.run_button.click()
    assert cmp.state.wait(30)
    assert [a.text for a in cmp.state.answers] == ["Echo: Go 1", "Echo: Again 1"]
    assert PLANTED_KEY not in _all_state(cmp)


# --------------------------------------------------------------------------- #
# Versions
# --------------------------------------------------------------------------- #


def test_versions_panel_saves_diffs_and_loads(runner):
    pg = wb.Playground(wb.Prompt(system="Be brief.", user="About {x}"), "local:smollm2", runner=runner,
                       temperature=0.5)
    panel = pg.versions
    panel.name.value = "v1"
    panel.save.click()
    assert panel.name.value == "" and len(panel.list.options) == 1 and "Saved #" in text_of(pg.messages.info)
    pg.system.value = "Be brief and formal."
    pg.params.controls["seed"].value = 3
    panel.name.value = "v2"
    panel.save.click()
    labels = [label for label, _ in panel.list.options]
    assert labels[0].startswith("#2 v2 · ") and labels[1].startswith("#1 v1 · ")
    assert (panel.a.value, panel.b.value) == (1, 2)  # the two newest, right after saving
    assert "wb-diff-add" in panel.diff.value and "Be brief and formal." in panel.diff.value
    assert "seed: 3" in panel.diff.value
    assert panel.load.disabled
    panel.list.value = 1
    panel.load.click()
    assert pg.system.value == "Be brief." and "seed" not in pg.state.params
    assert not pg.params.toggles["seed"].value and "Loaded #1" in text_of(pg.messages.info)
    panel.save.click()  # no name
    assert "needs a name" in text_of(pg.messages.error)


# --------------------------------------------------------------------------- #
# Compare and Sweep
# --------------------------------------------------------------------------- #


def test_compare_columns_add_remove_and_edit(runner):
    cmp = wb.Compare({"terse": "Short: {q}", "long": "Long: {q}"}, "local:smollm2", runner=runner)
    assert {"wb-root", "wb-compare"} <= set(cmp._dom_classes)
    assert [c.variant.label for c in cmp.columns] == ["terse", "long"]
    assert cmp.grid.layout.grid_template_columns.startswith("repeat(2,")
    assert all(c.remove.disabled for c in cmp.columns)  # at least two columns
    cmp.add_button.click()
    assert len(cmp.columns) == 3 and cmp.grid.layout.grid_template_columns.startswith("repeat(3,")
    cmp.columns[2].user.value = "Other: {q} and {r}"
    assert cmp.state.variants[2].user == "Other: {q} and {r}"
    assert [f.description for f in with_class(cmp.variables, "wb-var")] == ["q", "r"]
    cmp.columns[0].remove.click()
    assert [c.variant.label for c in cmp.columns] == ["long", "A"]
    cmp.add_button.click()
    cmp.add_button.click()
    assert len(cmp.columns) == 4 and cmp.add_button.disabled


def test_compare_runs_columns_with_figures(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    cmp = wb.Compare({"a": "First {q}", "b": "Second {q}"}, fake_model, runner=runner)
    cmp.run_button.click()
    assert "{q}" in text_of(cmp.messages.error)
    cmp.variable_field("q").value = "go"
    cmp.run_button.click()
    assert cmp.state.wait(30)
    texts = [text_of(c.answer.samples.children[0]) for c in cmp.columns]
    assert texts == ["Echo: First go", "Echo: Second go"]
    assert all("tokens in" in text_of(c.answer.figures) for c in cmp.columns)
    assert "2/2 answered" in cmp.status.value
    cmp.columns[1].answer.down.click()
    assert runner.run_log.ratings()["rating"].tolist() == [-1]


def test_sweep_groups_answers_by_value_and_plots(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    sw = wb.Sweep("Tell me about {topic}", fake_model, parameter="max_tokens", values=[2, 6], repeats=2,
                  runner=runner, topic="owls")
    assert {"wb-root", "wb-sweep"} <= set(sw._dom_classes)
    assert "2 values × 2 repeats = <b>4</b> calls" in sw.calls.value
    sw.values.value = "2, 3, 6"
    assert sw.state.sweep_values == [2, 3, 6] and "<b>6</b> calls" in sw.calls.value
    sw.values.value = "2, 0"
    assert "max_tokens must be" in text_of(sw.messages.error) and sw.state.sweep_values == [2, 3, 6]
    sw.run_button.click()
    assert sw.state.wait(30)
    assert len(sw.groups.children) == 3
    headers = [text_of(h) for _, h in sw._headers]
    assert headers[0].startswith("max_tokens = 2") and "mean length (characters) 10.0" in headers[0]
    first_group = sw.groups.children[0].children
    assert len(first_group) == 3 and all("Echo: Tell" in text_of(v.samples.children[0]) for v in first_group[1:])
    assert shown(sw.plot) and bytes(sw.plot.value).startswith(b"\x89PNG")
    before = bytes(sw.plot.value)
    sw.measure.value = "words"
    assert sw.state.measure == "words" and bytes(sw.plot.value) != before
    assert "mean words 2.0" in text_of(sw._headers[0][1])
    sw.parameter.value = "temperature"
    assert sw.values.value == "0, 0.5, 1, 1.5"


def test_sweep_reruns_reuse_the_answer_views_and_close_what_they_drop(fake_model, runner):
    """A rerun used to build every answer view again (about 30 widgets each) and leave the old ones open."""
    from ipywidgets.widgets.widget import _instances  # the open widgets (Widget.widgets is deprecated)

    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    sw = wb.Sweep("About {topic}", fake_model, parameter="max_tokens", values=[2, 4, 6], repeats=3,
                  runner=runner, topic="owls")
    sw.state.run()
    views = list(sw._views)
    assert len(views) == 9 and all(v.answer is p.answer for v, p in zip(views, sw.state.points, strict=True))
    open_after_first = len(_instances)
    sw.state.run()
    assert [id(v) for v in sw._views] == [id(v) for v in views]  # the same views, bound to the new answers
    assert all(v.answer is p.answer for v, p in zip(views, sw.state.points, strict=True))
    assert all("Echo: About" in text_of(v.samples.children[0]) for v in sw._views)
    assert len(_instances) == open_after_first  # the rerun left no widget behind
    sw.values.value = "2"
    assert "1 value × 3 repeats = <b>3</b> calls" in sw.calls.value
    sw.state.run()
    assert len(sw._views) == 3 and len(sw.groups.children) == 1
    assert all(v.comm is None for v in views[3:])  # the dropped views are closed, with their parts
    assert len(_instances) < open_after_first


def test_sweep_accepts_any_scorer(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)

    class Contains:
        name = "mentions topic"

        def __call__(self, output, case):
            return case["topic"] in output

    sw = wb.Sweep("About {topic}", fake_model, parameter="max_tokens", values=[1, 4], repeats=1,
                  runner=runner, topic="owls", measure=Contains())
    assert sw.measure.value == "mentions topic" and "mentions topic" in sw.measure.options
    sw.run_button.click()
    assert sw.state.wait(30)
    assert [r["mean"] for r in sw.state.summary()] == [0.0, 1.0]


# --------------------------------------------------------------------------- #
# Static fallback
# --------------------------------------------------------------------------- #


def test_mimebundle_has_readable_text_and_html(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    pg = wb.Playground(wb.Prompt(system="Be <b>brief</b>.", user="About {topic}"), fake_model, runner=runner,
                       topic="owls", temperature=0.5)
    pg.state.run(timeout=30)
    bundle = pg._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "About {topic}" in bundle["text/plain"] and "Echo: About owls" in bundle["text/plain"]
    assert "Playground(" not in bundle["text/plain"] and "VBox(" not in bundle["text/plain"]
    page = bundle["text/html"]
    assert "Be &lt;b&gt;brief&lt;/b&gt;." in page and "Echo: About owls" in page and "temperature=0.5" in page
    for widget in (wb.Compare(["A {x}", "B {x}"], fake_model, runner=runner),
                   wb.Sweep("A {x}", fake_model, runner=runner)):
        b = widget._repr_mimebundle_()
        assert "A {x}" in b["text/plain"] and "A {x}" in b["text/html"]


def test_sweep_with_the_experiment_scorers(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    sw = wb.Sweep("About {topic}", fake_model, parameter="max_tokens", values=[1, 4], repeats=1, runner=runner,
                  topic="owls", expected="Echo: About owls",
                  scorers=[wb.scorers.contains("owls"), wb.scorers.exact_match()])
    assert sw.measure.options == ("length (characters)", "words", "contains", "exact_match")
    sw.run_button.click()
    assert sw.state.wait(30)
    sw.measure.value = "contains"
    assert [r["mean"] for r in sw.state.summary()] == [0.0, 1.0]
    sw.measure.value = "exact_match"
    assert [r["mean"] for r in sw.state.summary()] == [0.0, 1.0] and not sw.state.measure_errors


def test_a_failed_run_shows_its_error_without_empty_samples_or_rating(log):
    """Issue 18 item 6: a failed run still showed an empty answer box and the thumbs."""
    from workbench import testing

    runner = wb.Runner(log=log, progress=False, max_retries=0)
    model = testing.script("fails", [testing.fault("bad_request")])
    pg = wb.Playground("Go {x}", model, runner=runner, x="1")
    pg.run_button.click()
    assert pg.state.wait(10) and pg.state.answer.status == "error"
    assert shown(pg.answer.error)
    assert not shown(pg.answer.samples) and not shown(pg.answer.rating)
    assert "failed" in text_of(pg.status) or "error" in text_of(pg.status)


def test_parameter_controls_show_defaults_notes_and_descriptions(runner):
    """Issue 18 items 2-4: descriptions on a visible name, provider defaults when unset, a note when clamped."""
    pg = wb.Playground("Hi", "local:smollm2", runner=runner)
    params = pg.params
    # 2: the description is on the name a user hovers (an HTML label with a title), not a hidden label
    names = with_class(params, "wb-param-name-temperature")
    assert names and 'title="' in names[0].value and "randomness" in names[0].value.lower()
    # 3: unset controls show the local model's defaults
    assert params.controls["temperature"].value == 0.2 and params.controls["max_tokens"].value == 512
    # 4: a value typed out of range is clamped and said so beside the control
    params.controls["temperature"].value = 5
    assert pg.state.params["temperature"] == 2
    assert params.controls["temperature"].value == 2
    note = with_class(params, "wb-param-note-temperature")[0]
    assert shown(note) and "5" in text_of(note) and "2" in text_of(note)
    params.controls["max_tokens"].value = 0
    assert pg.state.params["max_tokens"] == 1 and shown(with_class(params, "wb-param-note-max_tokens")[0])
