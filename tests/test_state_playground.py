"""The Playground's state, and the run path every state shares, tested without ipywidgets or a browser.

Runs against the in-process mock model, the real offline model (small
``max_tokens``) and, for keys, provider failures and Stop, the loopback fake
server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import pytest

import workbench as wb
from workbench import state as S
from workbench import testing
from workbench._portal import submit

from .conftest import PLANTED_KEY, wait_until


@pytest.fixture
def quick_runner(log):
    """No retries, so provider failures show at once."""
    return wb.Runner(log=log, progress=False, max_retries=0, max_wait=0.5)


def playground(runner, prompt="Tell me about {topic}", model="local:smollm2", **kw):
    kw.setdefault("max_tokens", 12)
    return S.PlaygroundState(wb.Prompt(user=prompt), model, runner=runner, **kw)


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
# one run path: start, run and arun
# --------------------------------------------------------------------------- #


def test_start_run_and_arun_refuse_a_second_run_while_one_is_going(runner):
    s = playground(runner, model=testing.script("slow", ["one", "two", "three"], delay=0.5), topic="owls")
    first = s.start()
    assert first is not None and s.running
    assert s.start() is None and "already going" in s.error
    with pytest.raises(wb.WorkbenchError, match="already going"):
        s.run(timeout=5)
    with pytest.raises(wb.WorkbenchError, match="already going"):
        asyncio.run(s.arun())
    assert first.result(10).text == "one"
    assert len(testing.calls("slow")) == 1  # the refused runs sent nothing
    assert s.start() is not None and s.wait(10) and s.answer.text == "two" and s.error is None


def test_arun_runs_in_the_portal_and_can_be_stopped(runner):
    s = playground(runner, model=testing.script("async", ["first answer"]), topic="owls")
    response = asyncio.run(s.arun())
    assert response.text == s.answer.text == "first answer" and not s.running
    s2 = playground(runner, model=testing.script("long", [" ".join(f"w{i}" for i in range(300))],
                                                 chunk_delay=0.01), topic="owls")

    async def run_then_stop():
        task = asyncio.ensure_future(s2.arun())
        while len(s2.answer.text) < 10:
            await asyncio.sleep(0.01)
        assert s2.stop()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_then_stop())
    assert s2.answer.status == "stopped" and not s2.running


def test_a_stop_arriving_as_a_run_ends_does_not_cancel_the_next_run(runner):
    """Defect 8.5. Stop finds the run going, the run then ends, and only then the stop lands.

    The interleaving is forced: reading ``running`` from this (the kernel's)
    thread waits for the run to finish before answering ``True``.
    """
    model = testing.script("late", ["first", "second"], delay=0.3)
    s = S.PlaygroundState("Say {x}", model, runner=runner, x="hi")
    kernel = threading.current_thread()
    armed = threading.Event()
    waited = []

    class LateStop(type(s)):
        @property
        def running(self):
            value = self.__dict__.get("_running_value", False)
            if value and armed.is_set() and threading.current_thread() is kernel:
                armed.clear()
                waited.append(self.wait(5))  # the run ends between the check and the stop
            return value

        @running.setter
        def running(self, value):
            self.__dict__["_running_value"] = value

    s.__class__ = LateStop
    s.running = False
    future = s.start()
    armed.set()
    s.stop()
    assert waited == [True]  # the stop did arrive as the run ended
    future.result(5)
    assert s.answer.status == "done" and s.answer.text == "first"
    s.run(timeout=10)  # the next run is not cancelled by the old stop
    assert s.answer.status == "done" and s.answer.text == "second"


def test_stop_before_the_task_starts_cancels_only_that_run(runner):
    s = playground(runner, model=testing.script("early", ["kept"]), topic="owls")
    future = s.start()
    s.stop()  # usually lands before the portal even ran the task
    assert s.wait(10) and not s.running
    assert concurrent.futures.wait([future], timeout=5).done == {future}
    assert future.cancelled() or future.result().text == "kept"
    s.run(timeout=10)
    assert s.answer.status == "done"


def test_cancelling_the_future_of_a_run_leaves_the_state_ready(runner):
    """The Future that start() returns, cancelled while the portal is busy: the run ends as a Stop would."""
    s = playground(runner, model=testing.script("instant", ["first", "after"]), topic="owls")
    submit(asyncio.sleep(0)).result(5)  # the portal exists

    async def block():
        time.sleep(0.3)  # holds the portal's loop: the run's task is not even created yet

    submit(block())
    future = s.start()
    assert future.cancel()
    assert s.wait(5) and not s.running
    s.run(timeout=10)
    assert s.answer.status == "done" and s.answer.text in ("first", "after")


# --------------------------------------------------------------------------- #
# Issue 18: labels and messages that outlive what they describe
# --------------------------------------------------------------------------- #


def test_a_loaded_version_label_is_marked_edited_once_the_prompt_or_params_change(runner):
    """Item 5: the label of a loaded version stuck to every later answer."""
    model = testing.script("versions-edited")  # echoes
    s = S.PlaygroundState(wb.Prompt(user="Hi {x}"), model, runner=runner, x="a")
    v1 = s.save_version("v1")
    s.user = "Something else {x}"
    s.load_version(v1.id)
    s.run(timeout=10)
    assert s.answer.label == "v1"
    s.user = "Hello {x}"
    s.run(timeout=10)
    assert s.answer.label == "v1 (edited)"
    s.load_version(v1.id)
    s.set_param("temperature", 1.5)
    s.run(timeout=10)
    assert s.answer.label == "v1 (edited)"
    s.load_version(v1.id)
    s.set_variable("x", "b")  # a variable is not part of a version: still v1
    s.run(timeout=10)
    assert s.answer.label == "v1"


def test_stale_messages_and_status_clear_when_the_inputs_change(runner):
    """Item 6: "done in 6.74 s", an error or "Loaded #1" stayed after switching model or editing."""
    model = testing.script("stale-a")
    s = S.PlaygroundState(wb.Prompt(user="Tell me about {topic}"), model, runner=runner, topic="owls")
    v1 = s.save_version("v1")
    s.load_version(v1.id)
    assert s.info and s.info.startswith("Loaded")
    s.user = "Tell me more about {topic}"
    assert s.info is None
    s.run(timeout=10)
    assert s.status_text().startswith("done in")
    s.model = testing.script("stale-b")
    assert s.status_text() == ""  # the answer shown is not from this model
    s.set_variable("topic", "")
    assert s.start() is None and s.error
    s.set_variable("topic", "bats")
    assert s.error is None
    s.run(timeout=10)
    assert s.status_text().startswith("done in")
    s.set_param("max_tokens", 5)
    assert s.status_text() == ""
