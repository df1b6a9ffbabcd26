"""Compare's state: variants, validation, running every column, Stop, tested without ipywidgets."""

from __future__ import annotations

import asyncio
import json

import pytest

import workbench as wb
from workbench import state as S

from .conftest import PLANTED_KEY, wait_until


@pytest.fixture
def quick_runner(log):
    """No retries, so provider failures show at once."""
    return wb.Runner(log=log, progress=False, max_retries=0, max_wait=0.5)


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


def test_stop_cancels_every_call_of_a_compare(fake_model, quick_runner, keyed_fake):
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    keyed_fake.responder = lambda body: " ".join(f"w{i}" for i in range(400))
    keyed_fake.chunk_delay = 0.01
    c = S.CompareState(["A {x}", "B {x}"], fake_model, runner=quick_runner, x="1", max_tokens=400)
    c.start()
    assert wait_until(lambda: all(len(a.text) > 5 for a in c.answers), timeout=10)
    assert c.stop() and c.wait(10)
    assert [a.status for a in c.answers] == ["stopped", "stopped"]
    assert set(quick_runner.run_log.calls()["error_type"]) == {"CancelledRunError"}


def test_update_variant_refuses_names_that_are_not_fields(runner):
    """Defect 8.6: ``prompt=`` used to replace the variant's prompt() method; every later run then failed."""
    c = S.CompareState(["A {x}", "B {x}"], "mock:echo", runner=runner, x="1")
    with pytest.raises(wb.ParamsError, match="label, system, user, examples, model, params"):
        c.update_variant(0, prompt="Hi")
    with pytest.raises(wb.ParamsError, match="no field 'colour'"):
        c.update_variant(0, user="changed {x}", colour="red")  # nothing changes when one name is wrong
    assert callable(c.variants[0].prompt) and c.variants[0].user == "A {x}"
    c.run(timeout=10)
    assert [a.text for a in c.answers] == ["A 1", "B 1"]
    c.update_variant(1, user="C {x}", label="third")
    assert c.answers[1].label == "third" and c.variants[1].prompt().user == "C {x}"


def test_compare_runs_the_columns_it_can_and_names_those_needing_a_key(runner, monkeypatch):
    """Issue 18 item 8: one column without a key ran nothing and kept the old answer under the new header."""
    from workbench import testing

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = testing.script("cmp-key", ["first answer", "second answer"])
    c = S.CompareState(wb.Prompt(user="Name {x}."), [model, model], runner=runner, x="a tree")
    c.run(timeout=20)
    assert [a.status for a in c.answers] == ["done", "done"]
    c.update_variant(1, model="openai:gpt-4o-mini")
    assert c.answers[1].status == "idle" and c.answers[1].text == ""  # the old answer is not shown under gpt-4o
    future = c.start()
    assert future is not None
    future.result(20)
    assert c.answers[0].status == "done" and c.answers[0].text
    assert c.answers[1].status == "idle" and c.answers[1].model == "openai:gpt-4o-mini" and not c.answers[1].text
    assert "OPENAI_API_KEY" in (c.answers[1].error or "")
    assert c.error and f"Variant {c.variants[1].label} not run" in c.error and "OPENAI_API_KEY" in c.error
    assert c.counts()["answered"] == 1 and c.counts()["needs_key"] == 1
    assert "1/2 answered" in c.status_text() and "1 needs a key" in c.status_text()
    assert set(runner.run_log.calls()["model"]) == {model}  # nothing was sent for the column without a key


def test_load_and_queue_time_are_reported_apart_from_latency(log, monkeypatch):
    """Issue 18 item 9: the first call's latency seemed to include the model load, a column's the other's turn."""
    from workbench import testing
    from workbench.providers._mock import MockProvider

    loaded: list[str] = []

    async def slow_warm_up(self, model):  # a model that takes 0.4 s to load, once
        if model not in loaded:
            loaded.append(model)
            await asyncio.sleep(0.4)

    monkeypatch.setattr(MockProvider, "warm_up", slow_warm_up)
    runner = wb.Runner(log=log, progress=False, concurrency=1, cache=False)  # one call at a time, like local
    model = testing.script("queue", ["one two", "three four"], delay=0.3)
    c = S.CompareState({"a": "First {x}", "b": "Second {x}"}, model, runner=runner, x="1")
    c.run(timeout=20)
    first, second = sorted((a.response for a in c.answers), key=lambda r: r.queue_s)
    assert first.load_s >= 0.35 and first.latency_s < 0.6  # the load is not in the latency ...
    assert "model load 0.4" in first.figures()  # ... and is shown apart
    assert second.queue_s >= 0.6 and second.latency_s < 0.6  # waiting for the other column is not either
    assert "queued" in second.figures()
