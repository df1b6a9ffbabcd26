"""Issue 18, item 12: the Playground's history, read from the run log; any run loads back.

On a temporary log: runs of two prompts and two models, a rating, a stopped
run and a call made with ``wb.complete`` (no editor tags) are listed by
scope, newest first, and load back with their prompt, variables, parameters,
model and answer.
"""

from __future__ import annotations

import pytest

import workbench as wb
from workbench import testing
from workbench.state import PlaygroundState
from workbench.state.history import PastRun


@pytest.fixture
def state(runner):
    testing.script("hist-a", ["Owls hunt at night.", "Owls have soft feathers.", "Bats use echoes."])
    testing.script("hist-b", ["Owls, from model b."])
    return PlaygroundState(wb.Prompt(system="Be brief.", user="Tell me about {topic}."), "mock:hist-a",
                           topic="owls", temperature=0.3, runner=runner)


def test_history_lists_this_prompts_runs_newest_first_with_params_answer_and_rating(state):
    state.run(timeout=10)
    state.rate(1, "nice")
    state.params["max_tokens"] = 20
    state.run(timeout=10)
    state.user = "Other prompt about {topic}."
    state.run(timeout=10)  # another prompt: not in the first prompt's history
    state.user = "Tell me about {topic}."
    runs = state.history("prompt")
    assert [r.text for r in runs] == ["Owls have soft feathers.", "Owls hunt at night."]
    newest, oldest = runs
    assert newest.params == {"temperature": 0.3, "max_tokens": 20} and oldest.params == {"temperature": 0.3}
    assert oldest.rating == 1 and oldest.note == "nice" and newest.rating is None
    assert newest.variables == {"topic": "owls"} and newest.model == "mock:hist-a"
    label = oldest.label()
    assert f"#{oldest.call_id}" in label and "temperature=0.3" in label and '"Owls hunt at night."' in label
    assert label.endswith("+1")
    assert len(state.history("all")) == 3


def test_history_by_model(state):
    state.run(timeout=10)
    state.model = "mock:hist-b"
    state.run(timeout=10)
    assert [r.text for r in state.history("model")] == ["Owls, from model b."]
    state.model = "mock:hist-a"
    assert [r.text for r in state.history("model")] == ["Owls hunt at night."]


def test_loading_a_run_puts_back_prompt_variables_params_model_and_answer(state):
    state.run(timeout=10)
    first = state.history("all")[0]
    state.system, state.user, state.model = "", "Completely new {thing}.", "mock:hist-b"
    state.set_variable("thing", "x")
    state.set_param("temperature", 1.5)
    state.run(timeout=10)

    loaded = state.load_run(first)
    assert isinstance(loaded, PastRun)
    assert (state.system, state.user, state.model) == ("Be brief.", "Tell me about {topic}.", "mock:hist-a")
    assert state.variables["topic"] == "owls" and state.params == {"temperature": 0.3}
    assert state.answer.text == "Owls hunt at night." and state.answer.call_id == first.call_id
    assert state.answer_is_current and state.status_text().startswith("done in")
    assert "Loaded run #" in (state.info or "")
    state.rate(-1)  # the loaded answer is rateable: the rating goes to its own row
    assert state.history("all")[-1].rating == -1
    # running it again makes the same request as the first run did
    assert testing.calls("hist-a")[0].messages == [dict(m) for m in state.prepare().messages]


def test_a_call_made_in_code_and_a_stopped_run_load_too(state, runner):
    wb.complete("mock:hist-b", "Braces {like this} stay text.", seed=5, runner=runner, cache=False)
    run = state.history("all")[0]
    assert run.prompt.user == "Braces {{like this}} stay text." and run.params == {"seed": 5}
    state.load_run(run)
    assert state.prepare().messages[-1]["content"] == "Braces {like this} stay text."

    slow = testing.script("hist-slow", [" ".join(["word"] * 300)], chunk_delay=0.01)
    state.model = slow
    state.start()
    assert state.wait(0.3) is False
    state.stop()
    assert state.wait(10)
    state.runner.run_log.flush()
    stopped = state.history("model")[0]
    assert stopped.status == "error" and stopped.label().split(" · ")[-1].startswith('"stopped: word')


def test_no_history_without_a_log_or_a_valid_prompt():
    s = PlaygroundState("Hi", testing.script("hist-none", []), runner=wb.Runner(log=False, progress=False))
    s.run(timeout=10)
    assert s.history("all") == []
    s2 = PlaygroundState("Hi", testing.script("hist-none", []), log=":memory:")
    s2.user = "Hi {"  # half-typed
    assert s2.history("prompt") == []
