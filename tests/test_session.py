"""The plain state behind the widgets, tested without ipywidgets or a browser.

Runs against the real offline model (small ``max_tokens``) and, for keys,
provider failures and Stop, against the loopback fake server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import pytest

import workbench as wb
from workbench import _session as S
from workbench._types import Delta

from .conftest import PLANTED_KEY, wait_until



# --------------------------------------------------------------------------- #
# fixtures
# --------------------------------------------------------------------------- #




@pytest.fixture
def quick_runner(log):
    """No retries, so provider failures show at once."""
    return wb.Runner(log=log, progress=False, max_retries=0, max_wait=0.5)


def playground(runner, prompt="Tell me about {topic}", model="local:smollm2", **kw):
    kw.setdefault("max_tokens", 12)
    return S.PlaygroundState(wb.Prompt(user=prompt), model, runner=runner, **kw)


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def test_variables_in_tolerates_half_typed_templates():
    assert S.variables_in("Role {role}", "About {topic} and {role}") == ["role", "topic"]
    assert S.variables_in(None, "About {topic} and {unfinished") == ["topic"]
    assert S.variables_in(None, "JSON {{not}} a var, {x}") == ["x"]
    assert S.variables_in(None, "", [("Q {q}", "A")]) == ["q"]


def test_param_specs_come_from_the_schema():
    specs = {s.name: s for s in S.param_specs()}
    assert list(specs) == list(wb.Params.model_fields)
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
    s = playground(runner)
    heard = []
    s.observe(heard.append)
    s.observe(lambda name: 1 / 0)
    s.user = "changed {x}"
    s.set_variable("x", "1")
    assert heard == ["user", "variables"]
    assert s.listener_errors and "ZeroDivisionError" in s.listener_errors[0]


# --------------------------------------------------------------------------- #
# Playground: validation (synchronous, nothing sent)
# --------------------------------------------------------------------------- #


def test_construction_splits_params_from_variables(runner):
    s = S.PlaygroundState("Hi {name}", "local:smollm2", runner=runner, temperature=0.7, name="Ann")
    assert s.params == {"temperature": 0.7} and s.variables == {"name": "Ann"}
    with pytest.raises(wb.ParamsError, match="temperatur"):
        S.PlaygroundState("Hi", "local:smollm2", runner=runner, temperatur=0.7)


@pytest.mark.parametrize(
    ("change", "error_type", "words"),
    [
        (lambda s: None, wb.PromptError, "{topic} but its field is empty"),
        (lambda s: (s.set_variable("topic", "owls"), s.params.update(temperature=3)), wb.ParamsError,
         "temperature must be"),
        (lambda s: (s.set_variable("topic", "owls"), setattr(s, "model", "local:nope")), wb.ModelNotFoundError,
         "Unknown model 'local:nope'"),
        (lambda s: (s.set_variable("topic", "owls"), setattr(s, "user", "{topic} {oops")), wb.PromptError,
         "unmatched brace"),
        (lambda s: (s.set_variable("topic", "owls"), setattr(s, "model", "openai:gpt-4o-mini")), wb.MissingKeyError,
         "OPENAI_API_KEY"),
    ],
    ids=["missing-variable", "bad-param", "unknown-model", "bad-template", "missing-key"],
)
def test_invalid_input_is_one_message_and_nothing_is_sent(runner, change, error_type, words):
    s = playground(runner)
    change(s)
    assert s.start() is None and not s.running
    assert words in s.error and "Traceback" not in s.error and "Fix" in s.error
    with pytest.raises(error_type):
        s.run()
    assert runner.run_log.count() == 0


def test_missing_key_is_detected_and_a_session_key_fixes_it(fake_model, runner):
    s = playground(runner, model=fake_model, topic="owls")
    assert s.missing_key == "FAKEAPI_KEY"
    s.start()
    assert "FAKEAPI_KEY" in s.error
    assert not s.provide_key("   ")
    assert s.provide_key(PLANTED_KEY)
    assert s.missing_key is None and s.error is None and PLANTED_KEY not in (s.info or "")
    assert PLANTED_KEY not in repr(vars(s)) and PLANTED_KEY not in s.summary_text() + s.summary_html()
    s.run(timeout=30)
    assert s.answer.status == "done" and s.answer.text == "Echo: Tell me about owls"


# --------------------------------------------------------------------------- #
# Playground: running
# --------------------------------------------------------------------------- #


@pytest.mark.local_model
def test_playground_streams_the_local_model_and_logs_the_call(runner):
    s = playground(runner, topic="owls", temperature=0.2, seed=1)
    events = []
    s.observe(events.append)
    future = s.start()
    assert future is not None and s.running
    assert s.wait(120) and future.result() is not None
    a = s.answer
    assert a.status == "done" and a.text.strip() and a.call_id is not None
    assert events.count("answer") >= 3  # began, several deltas, finished
    assert "tokens in" in a.figures() and "latency" in a.figures() and "first token" in a.figures()
    row = runner.run_log.call(a.call_id)
    assert row.text == a.text and row.request["temperature"] == 0.2 and row.tags["source"] == "playground"
    assert "owls" in row.request["messages"][-1]["content"]
    assert not s.running and s.listener_errors == []


@pytest.mark.local_model
def test_n_samples_fill_one_text_each(runner):
    s = playground(runner, topic="owls", n=2, seed=3, max_tokens=8, temperature=1.0)
    s.run(timeout=120)
    assert len(s.answer.texts) == 2 and all(t.strip() for t in s.answer.texts)


def test_stop_cancels_and_logs_the_partial_answer(fake_model, quick_runner, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.responder = lambda body: " ".join(f"word{i}" for i in range(400))
    keyed_fake.chunk_delay = 0.01
    s = playground(quick_runner, model=fake_model, topic="owls", max_tokens=400)
    s.start()
    wait_until(lambda: len(s.answer.text) >= 20, timeout=10)
    assert s.stop()
    assert s.wait(10) and not s.running
    assert s.answer.status == "stopped" and s.answer.error_type == "CancelledRunError"
    rows = quick_runner.run_log.calls()
    assert list(rows["error_type"]) == ["CancelledRunError"]
    assert rows["text"][0].startswith("word0 word1") and len(rows["text"][0]) < len(keyed_fake.responder({}))
    assert not s.stop()  # nothing to stop any more


@pytest.mark.parametrize(("fault", "error_type", "words"), [
    ("401", "AuthenticationError", "rejected the API key"),
    ("429", "RateLimitError", "429"),
    ("500", "ServerError", "500"),
])
def test_provider_failures_show_under_the_answer(fake_model, quick_runner, keyed_fake, fault, error_type, words):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.script([fault])
    s = playground(quick_runner, model=fake_model, topic="owls")
    s.run(timeout=30)
    a = s.answer
    assert a.status == "error" and a.error_type == error_type and words in a.error
    assert PLANTED_KEY not in a.error and s.error is None
    assert quick_runner.run_log.calls()["status"][0] == "error"


def test_a_retried_stream_restarts_the_shown_text(fake_model, log, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.script(["cut:3"])  # the first stream breaks after 3 events; the runner retries
    runner = wb.Runner(log=log, progress=False, max_retries=2, max_wait=0.1)
    s = playground(runner, model=fake_model, topic="owls")
    s.run(timeout=30)
    assert s.answer.status == "done" and s.answer.text == "Echo: Tell me about owls"
    assert s.answer.response.attempts == 2


# --------------------------------------------------------------------------- #
# ratings and versions
# --------------------------------------------------------------------------- #


def test_ratings_go_to_the_run_log(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    s = playground(runner, model=fake_model, topic="owls")
    with pytest.raises(wb.RunLogError, match="no logged call"):
        s.rate(1)
    s.run(timeout=30)
    s.rate(1, "good")
    s.rate(-1)  # the latest rating wins; the note is kept
    ratings = runner.run_log.ratings()
    assert list(ratings["rating"]) == [-1] and list(ratings["note"]) == ["good"]
    calls = runner.run_log.calls()
    assert calls["rating"][0] == -1 and calls["rating_note"][0] == "good"
    with pytest.raises(wb.RunLogError, match="rating=5"):
        s.rate(5)


def test_versions_save_list_diff_and_load(runner):
    s = playground(runner, temperature=0.5)
    s.system = "Be brief."
    v1 = s.save_version("v1")
    s.system = "Be brief and formal."
    s.set_param("seed", 7)
    s.model = "openai:gpt-4o-mini"
    v2 = s.save_version("v2-formal", note="more formal")
    assert [v.name for v in s.versions()] == ["v2-formal", "v1"]
    assert v1.prompt_hash != v2.prompt_hash and v2.params == {"temperature": 0.5, "max_tokens": 12, "seed": 7}
    d = s.diff(v1.id, v2.id)
    assert ("-", "Be brief.") in d.lines and ("+", "Be brief and formal.") in d.lines
    assert ("+", "seed: 7") in d.lines and ("+", "model: openai:gpt-4o-mini") in d.lines
    assert "wb-diff-add" in d.to_html() and "Be brief and formal." in d.to_html()
    assert not s.diff(v1.id, v1.id).changed
    s.load_version(v1.id)
    assert (s.system, s.params, s.model) == ("Be brief.", {"temperature": 0.5, "max_tokens": 12}, "local:smollm2")
    assert S.version_label(v1).startswith(f"#{v1.id} v1 · ") and v1.prompt_hash[:8] in S.version_label(v1)
    with pytest.raises(wb.RunLogError, match="needs a name"):
        s.save_version("  ")


def test_versions_need_a_log():
    s = S.PlaygroundState("Hi", "local:smollm2", runner=wb.Runner(log=False))
    assert s.versions() == []
    with pytest.raises(wb.RunLogError, match="needs a run log"):
        s.save_version("v1")


# --------------------------------------------------------------------------- #
# Compare
# --------------------------------------------------------------------------- #


def test_compare_builds_labelled_variants(runner):
    p1, p2 = wb.Prompt(user="A {x}"), wb.Prompt(user="B {x}")
    c = S.CompareState({"terse": p1, "warm": p2}, "local:smollm2", runner=runner)
    assert [v.label for v in c.variants] == ["terse", "warm"]
    c = S.CompareState(p1, ["local:smollm2", "openai:gpt-4o-mini"], runner=runner)
    assert [v.label for v in c.variants] == ["smollm2", "gpt-4o-mini"]
    c = S.CompareState([p1, p2], ["local:smollm2", "openai:gpt-4o"], runner=runner)
    assert [v.label for v in c.variants] == ["A · smollm2", "A · gpt-4o", "B · smollm2", "B · gpt-4o"]
    assert c.missing_keys == ["OPENAI_API_KEY"]
    with pytest.raises(wb.ParamsError, match="at most 4"):
        c.add_variant()
    with pytest.raises(wb.ParamsError, match="make 6 columns"):
        S.CompareState([p1, p2, p1], ["local:smollm2", "openai:gpt-4o"], runner=runner)
    c = S.CompareState(p1, runner=runner)
    assert len(c.variants) == 2 and c.variants[0].user == c.variants[1].user == "A {x}"
    c.add_variant(wb.Prompt(user="C {y}"))
    assert [v.label for v in c.variants] == ["A", "B", "C"] and c.variable_names == ["x", "y"]
    c.remove_variant(0)
    assert [v.label for v in c.variants] == ["B", "C"] and len(c.answers) == 2


def test_compare_names_the_variant_that_fails_validation(runner):
    c = S.CompareState([wb.Prompt(user="A {x}"), wb.Prompt(user="B {y}")], "local:smollm2", runner=runner, x="1")
    assert c.start() is None
    assert c.error.startswith("Variant B: ") and "{y}" in c.error


@pytest.mark.local_model
def test_compare_runs_every_variant_and_tags_the_calls(runner):
    c = S.CompareState({"terse": wb.Prompt(system="Five words.", user="What is {thing}?"),
                        "warm": wb.Prompt(system="Be friendly.", user="Explain {thing}.")},
                       "local:smollm2", runner=runner, max_tokens=10, seed=1, thing="rain")
    c.run(timeout=120)
    assert [a.status for a in c.answers] == ["done", "done"]
    assert all(a.text.strip() and "tokens in" in a.figures() for a in c.answers)
    tags = sorted(json.loads(t)["variant"] for t in runner.run_log.calls()["tags_json"])
    assert tags == ["terse", "warm"]
    c.rate(1, 1, "nice")
    assert list(runner.run_log.ratings()["call_id"]) == [c.answers[1].call_id]


# --------------------------------------------------------------------------- #
# Sweep
# --------------------------------------------------------------------------- #


def test_sweep_values_are_parsed_and_checked():
    assert S.parse_sweep_values("0, 0.5 1;1.5", "temperature") == [0.0, 0.5, 1.0, 1.5]
    assert S.parse_sweep_values([16, 64.0], "max_tokens") == [16, 64]
    with pytest.raises(wb.ParamsError, match="temperature must be"):
        S.parse_sweep_values("0, 3", "temperature")
    with pytest.raises(wb.ParamsError, match="whole numbers"):
        S.parse_sweep_values("1.5", "max_tokens")
    with pytest.raises(wb.ParamsError, match="not a number"):
        S.parse_sweep_values("0, hot", "temperature")
    with pytest.raises(wb.ParamsError, match="cannot be swept"):
        S.parse_sweep_values("1, 2", "n")


def test_sweep_plans_one_call_per_value_and_repeat(runner):
    s = S.SweepState("About {x}", "local:smollm2", values="0, 1", repeats=3, runner=runner, x="sea", max_tokens=5)
    planned = s.prepare()
    assert [(v, r) for v, r, _ in planned] == [(0.0, 0), (0.0, 1), (0.0, 2), (1.0, 0), (1.0, 1), (1.0, 2)]
    assert {req.params.temperature for _, _, req in planned} == {0.0, 1.0}
    assert len({req.cache_key for _, _, req in planned}) == 6  # repeats never answer each other
    s.set_parameter("max_tokens")
    assert s.sweep_values == [16, 64, 256]
    s.repeats = 100
    assert "repeats=100" in s.validate()


class _Score:
    def __init__(self, value):
        self.value, self.explanation = value, "test"


def test_sweep_measures_with_scorers_and_plots(fake_model, runner):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)

    def has_owls(output, case):
        return _Score(1.0 if case["topic"] in output else 0.0)

    def broken(output, case):
        raise ValueError("boom")

    s = S.SweepState("Tell me about {topic}", fake_model, parameter="max_tokens", values=[2, 3, 6], repeats=2,
                     scorers=[has_owls, broken], runner=runner, topic="owls")
    s.run(timeout=60)
    summary = {r["value"]: r for r in s.summary()}
    assert {v: r["mean"] for v, r in summary.items()} == {2: 10.0, 3: 13.0, 6: 24.0}  # "Echo: Tell", "Echo: Tell me", ...
    s.set_measure("has_owls")
    assert {r["value"]: r["mean"] for r in s.summary()} == {2: 0.0, 3: 0.0, 6: 1.0}
    s.set_measure("broken")
    assert s.measure_errors and "boom" in s.measure_errors[0]
    s.set_measure("words")
    fig = s.figure()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "max_tokens" and ax.get_ylabel() == "words"
    mean_line = [line for line in ax.get_lines() if line.get_label() == "mean"][0]
    assert list(mean_line.get_xdata()) == [2, 3, 6] and list(mean_line.get_ydata()) == [2.0, 3.0, 5.0]
    assert s.png().startswith(b"\x89PNG")
    frame = s.to_frame()
    assert len(frame) == 6 and set(frame["max_tokens"]) == {2, 3, 6} and frame["call_id"].notna().all()
    s.rate(0, 1)
    assert len(runner.run_log.ratings()) == 1


@pytest.mark.local_model
def test_sweep_on_the_local_model(runner):
    s = S.SweepState("Name a colour.", "local:smollm2", values="0, 1.2", repeats=2, runner=runner, max_tokens=6)
    s.run(timeout=180)
    assert len(s.points) == 4 and all(p.answer.status == "done" for p in s.points)
    assert all(r["n"] == 2 for r in s.summary())
    assert [r.tags["value"] for r in map(runner.run_log.call, s.to_frame()["call_id"])] == [0.0, 0.0, 1.2, 1.2]


def test_the_state_module_does_not_import_ipywidgets():
    import subprocess

    code = "import workbench._session, sys; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stop_cancels_every_call_of_a_compare_and_a_sweep(fake_model, quick_runner, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.responder = lambda body: " ".join(f"w{i}" for i in range(400))
    keyed_fake.chunk_delay = 0.01
    c = S.CompareState(["A {x}", "B {x}"], fake_model, runner=quick_runner, x="1", max_tokens=400)
    c.start()
    assert wait_until(lambda: all(len(a.text) > 5 for a in c.answers), timeout=10)
    assert c.stop() and c.wait(10)
    assert [a.status for a in c.answers] == ["stopped", "stopped"]
    keyed_fake.latency = 5.0  # the sweep does not stream: hold its answers back
    sw = S.SweepState("A {x}", fake_model, values=[0, 1], repeats=2, runner=quick_runner, x="1", max_tokens=400)
    sw.start()
    time.sleep(0.3)
    assert sw.stop() and sw.wait(10) and not sw.running
    assert all(p.answer.status == "stopped" for p in sw.points)
    assert set(quick_runner.run_log.calls()["error_type"]) == {"CancelledRunError"}
