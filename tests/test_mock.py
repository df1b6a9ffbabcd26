"""The ``mock:`` provider and ``workbench.testing``: scripted answers and faults, in-process."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import workbench as wb
from workbench import testing
from workbench._api import _Shown
from workbench._keys import get_key
from workbench._types import Delta

ANSWER = "The answer is 42."


@pytest.fixture
def quick(runner):
    """The test runner with retries that wait (almost) nothing."""
    runner.max_wait = 0.01
    return runner


# --- defect 8.2: a stream retried mid-answer ----------------------------------------------------
def test_joined_stream_equals_the_logged_answer_after_a_mid_stream_retry(quick):
    model = testing.script("cut-once", [testing.fault("stream_cut", text=ANSWER, after_chars=11), ANSWER])
    pieces = list(wb.stream(model, "question?", runner=quick, cache=False))
    row = quick.run_log.calls().iloc[0]
    assert row["text"] == ANSWER and row["attempts"] == 2
    assert "".join(pieces) == ANSWER  # not "The answer The answer is 42."


def test_a_retry_that_changes_the_answer_stops_the_stream_with_the_fix(quick):
    model = testing.script("cut-then-other", [testing.fault("stream_cut", text=ANSWER, after_chars=11),
                                              "The question was odd."])
    pieces: list[str] = []
    with pytest.raises(wb.StreamInterruptedError, match="changed on retry") as err:
        for piece in wb.stream(model, "question?", runner=quick, cache=False):
            pieces.append(piece)
    message = str(err.value)
    assert "wb.complete" in message and ("temperature=0" in message or "seed" in message)
    row = quick.run_log.calls().iloc[0]
    assert row["text"] == "The question was odd." and row["status"] == "ok"  # the full answer is logged
    assert f"call_id {row['id']}" in message
    shown = "".join(pieces)
    assert ANSWER[:11].startswith(shown) and "question" not in shown  # nothing of the other answer was shown


def test_a_retry_shorter_than_what_was_shown_is_a_change_too(quick):
    model = testing.script("cut-then-shorter", [testing.fault("stream_cut", text=ANSWER, after_chars=11), "The"])
    with pytest.raises(wb.StreamInterruptedError, match="changed on retry"):
        list(wb.stream(model, "question?", runner=quick, cache=False))


@pytest.mark.parametrize("after", [0, 1, 4, 11, 16, len(ANSWER)])
def test_the_joined_stream_is_exact_wherever_the_cut_falls(quick, after):
    model = testing.script(f"cut-at-{after}", [testing.fault("stream_cut", text=ANSWER, after_chars=after), ANSWER])
    assert "".join(wb.stream(model, "q", runner=quick, cache=False)) == ANSWER


@given(answer=st.text(alphabet="ab ", min_size=1, max_size=12), data=st.data())
def test_the_stream_filter_yields_exactly_the_final_answer_after_any_resets(answer, data):
    """Deltas of cut attempts (each a prefix of the answer), resets, then the whole answer in any pieces."""
    shown = _Shown()
    out: list[str] = []

    def send(text: str) -> None:
        cuts = sorted(data.draw(st.sets(st.integers(1, max(len(text) - 1, 1)), max_size=3)))
        for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
            if text[a:b]:
                out.append(shown.add(Delta(text[a:b])))

    for _ in range(data.draw(st.integers(0, 3))):
        send(answer[: data.draw(st.integers(0, len(answer)))])
        out.append(shown.add(Delta("", reset=True)))
    send(answer)
    assert "".join(out) == answer and not shown.diverged and not shown.replaying


@given(shown_text=st.text(alphabet="ab", min_size=1, max_size=8), retried=st.text(alphabet="ab", max_size=8))
def test_the_stream_filter_flags_a_retry_that_does_not_continue_what_was_shown(shown_text, retried):
    shown = _Shown()
    first = shown.add(Delta(shown_text))
    shown.add(Delta("", reset=True))
    rest = shown.add(Delta(retried)) if retried else ""
    changed = not retried.startswith(shown_text)
    assert (shown.diverged or shown.replaying) == changed
    assert first + rest == (shown_text if changed else retried)


# --- scripts ------------------------------------------------------------------------------------
def test_script_answers_in_order_then_the_default_then_echoes(runner):
    model = testing.script("capitals", ["Paris", "Rome"], default="I don't know")
    answers = [wb.complete(model, "Capital?", runner=runner, cache=False).text for _ in range(4)]
    assert answers == ["Paris", "Rome", "I don't know", "I don't know"]
    echo = testing.script("echo")
    assert wb.complete(echo, wb.Prompt(system="sys", user="say {x}"), x="this", runner=runner).text == "say this"


def test_an_empty_default_is_an_empty_answer_not_an_echo(runner):
    model = testing.script("silent", default="")
    r = wb.complete(model, "hello?", runner=runner, cache=False)
    assert r.text == "" and r.finish_reason == "stop" and r.usage.completion_tokens == 0


def test_a_callable_answer_sees_the_messages_and_parameters(runner):
    def answer(messages, params):
        return f"{messages[-1]['content'].upper()} at {params.temperature}"

    model = testing.script("shout", default=answer)
    assert wb.complete(model, "hi there", temperature=0.5, runner=runner).text == "HI THERE at 0.5"


def test_calls_are_recorded_with_messages_params_and_whether_streamed(runner):
    model = testing.script("recorded", ["one", "two"])
    wb.complete(model, wb.Prompt(system="Be brief.", user="first"), seed=3, runner=runner)
    list(wb.stream(model, "second", runner=runner, cache=False))
    calls = testing.calls("recorded")
    assert [c.streamed for c in calls] == [False, True]
    assert calls[0].messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first"}]
    assert calls[0].params == {"seed": 3} and calls[1].params == {}
    assert calls[0].model == "recorded" and len(testing.calls()) >= 2


def test_stop_and_max_tokens_cut_the_answer_like_a_real_model(runner):
    model = testing.script("long", default="one two three four STOP five")
    stopped = wb.complete(model, "q", stop=["STOP"], runner=runner, cache=False)
    assert stopped.text == "one two three four " and stopped.finish_reason == "stop"
    cut = wb.complete(model, "q", max_tokens=2, runner=runner, cache=False)
    assert cut.text == "one two" and cut.finish_reason == "length" and cut.usage.completion_tokens == 2
    whole = wb.complete(model, "q", max_tokens=6, runner=runner, cache=False)
    assert whole.finish_reason == "stop" and whole.usage.completion_tokens == 6
    assert "".join(wb.stream(model, "q", max_tokens=3, runner=runner, cache=False)) == "one two three"


def test_n_choices_take_successive_script_items(runner):
    model = testing.script("many", ["first", "second", "third"])
    r = wb.complete(model, "q", n=2, runner=runner, cache=False)
    assert r.choices == ["first", "second"] and r.text == "first"
    assert wb.complete(model, "q", runner=runner, cache=False).text == "third"


def test_a_stream_with_n_choices_sends_each_choice_its_pieces(runner):
    model = testing.script("two-streams", ["a b", "c d e"])
    seen = []
    request = runner.prepare(model, wb.Prompt(user="q"), params=wb.Params(n=2))
    r = asyncio.run(runner.call(request, on_delta=seen.append, cache=False))
    assert r.choices == ["a b", "c d e"] and r.usage.completion_tokens == 5
    assert "".join(d.text for d in seen if d.index == 0) == "a b"
    assert "".join(d.text for d in seen if d.index == 1) == "c d e"
    model2 = testing.script("two-text", ["a b", "c d e"])
    assert "".join(wb.stream(model2, "q", n=2, runner=runner, cache=False)) == "a b"  # first choice only


# --- faults and retries through the runner -------------------------------------------------------
@pytest.mark.parametrize(("kind", "error_type"), [
    ("rate_limit", "RateLimitError"), ("server", "ServerError"), ("timeout", "ProviderTimeoutError"),
    ("connection", "ProviderConnectionError"), ("malformed", "MalformedResponseError"),
    ("stream_cut", "StreamInterruptedError"),
])
def test_retryable_faults_are_retried_and_their_cause_recorded(quick, kind, error_type):
    model = testing.script(f"flaky-{kind}", [testing.fault(kind), testing.fault(kind), "finally"])
    r = wb.complete(model, "q", runner=quick, cache=False)
    assert r.ok and r.text == "finally" and r.attempts == 3 and r.retried == [error_type, error_type]
    assert len(testing.calls(f"flaky-{kind}")) == 3


@pytest.mark.parametrize(("kind", "error"), [("auth", wb.AuthenticationError), ("bad_request", wb.BadRequestError)])
def test_client_faults_are_not_retried(quick, kind, error):
    model = testing.script(f"refused-{kind}", [testing.fault(kind), "never reached"])
    r = wb.complete(model, "q", runner=quick, raise_errors=False, cache=False)
    assert r.error_type == error.__name__ and r.attempts == 1 and len(testing.calls(f"refused-{kind}")) == 1
    with pytest.raises(error):
        r.raise_for_error()


def test_retry_after_is_honoured(runner):
    model = testing.script("slow-down", [testing.fault("rate_limit", retry_after=0.3), "ok"])
    started = time.perf_counter()
    r = wb.complete(model, "q", runner=runner, cache=False)
    assert r.ok and time.perf_counter() - started >= 0.3 and r.retried == ["RateLimitError"]


def test_retries_are_bounded(quick):
    quick.max_retries = 2
    model = testing.script("down", default=testing.fault("server"))
    r = wb.complete(model, "q", runner=quick, raise_errors=False, cache=False)
    assert r.error_type == "ServerError" and r.attempts == 3 and r.retried == ["ServerError", "ServerError"]


def test_a_cut_stream_tells_the_viewer_to_reset_and_logs_only_the_full_answer(quick):
    model = testing.script("cut-viewer", [testing.fault("stream_cut", text="Hello wor", after_chars=9),
                                          "Hello world"])
    seen = []
    request = quick.prepare(model, wb.Prompt(user="q"))
    r = asyncio.run(quick.call(request, on_delta=seen.append, cache=False))
    assert r.text == "Hello world" and r.retried == ["StreamInterruptedError"]
    resets = [i for i, d in enumerate(seen) if d.reset]
    assert len(resets) == 1 and "".join(d.text for d in seen[resets[0] + 1:]) == "Hello world"
    assert quick.run_log.calls().iloc[0]["text"] == "Hello world"


def test_an_unknown_fault_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="Unknown fault kind 'rate-limit'. Fix: use one of rate_limit"):
        testing.fault("rate-limit")  # type: ignore[arg-type]


def test_chunk_delay_paces_the_stream(runner):
    model = testing.script("paced", ["a b c d"], chunk_delay=0.05)
    started = time.perf_counter()
    assert "".join(wb.stream(model, "q", runner=runner, cache=False)) == "a b c d"
    assert time.perf_counter() - started >= 0.2


# --- reset and isolation ---------------------------------------------------------------------------
def test_reset_forgets_scripts_and_calls_but_keeps_providers_when_asked(runner, fresh_providers):
    model = testing.script("forgetful", ["scripted"])
    wb.complete(model, "q", runner=runner, cache=False)
    wb.add_endpoint("ollama", base_url="http://localhost:11434/v1", models=["llama3.2"])
    wb.set_key("OPENAI_API_KEY", "sk-test-session-0123456789")
    testing.script("forgetful", ["not yet used"])
    testing.reset(providers=False)
    assert testing.calls() == [] and "ollama:llama3.2" in wb.models().names
    assert wb.complete(model, "echoed", runner=runner, cache=False).text == "echoed"  # the script is gone
    assert get_key("OPENAI_API_KEY") != "sk-test-session-0123456789"
    testing.reset()
    assert "ollama:llama3.2" not in wb.models().names


def test_isolated_gives_a_fresh_session_and_puts_the_old_one_back(fresh_providers):
    wb.set_key("MISTRAL_API_KEY", "outer-key-0123456789")
    wb.add_endpoint("ollama", base_url="http://localhost:11434/v1", models=["llama3.2"])
    model = testing.script("outer", ["outer answer"])
    outer_runner = wb.get_runner()
    with testing.isolated():
        assert get_key("MISTRAL_API_KEY") != "outer-key-0123456789"
        assert "ollama:llama3.2" not in wb.models().names and testing.calls() == []
        assert wb.get_runner() is not outer_runner
        testing.script("outer", ["inner answer"])
        wb.add_endpoint("vllm", base_url="http://localhost:8000/v1")
    assert get_key("MISTRAL_API_KEY") == "outer-key-0123456789"
    assert "ollama:llama3.2" in wb.models().names and wb.get_runner() is outer_runner
    with pytest.raises(wb.ModelNotFoundError):
        wb.build_request("vllm:any", "q")
    assert wb.complete(model, "q", cache=False, runner=wb.Runner(log=False)).text == "outer answer"
