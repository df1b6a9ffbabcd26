"""The token lens (issue 13): parameters, tokens on responses and in the log, providers, branching, the view."""

from __future__ import annotations

import json
import math

import pytest

import workbench as wb
from tests.fakeserver import FakeServer, fake_logprob
from workbench._lens import branch, tokenize
from workbench._tokens import Token, at_temperature, confidence, decode_tokens, encode_tokens
from workbench.providers import register_provider
from workbench.providers._mock import MockProvider
from workbench.state.tokens import TokenViewState, prob_colour, text_colour

TOKENS = dict(logprobs=True, top_logprobs=3)


# --- parameters: bad input is refused before any call -------------------------------------
def test_top_logprobs_without_logprobs_names_the_fix():
    with pytest.raises(wb.ParamsError, match=r"top_logprobs=3 was given without logprobs=True.*Fix: pass logprobs"):
        wb.Params.build(top_logprobs=3)
    with pytest.raises(wb.ParamsError, match="without logprobs=True"):
        wb.Params.build(logprobs=False, top_logprobs=1)


@pytest.mark.parametrize("value", [-1, 21, 2.5, True])
def test_top_logprobs_out_of_range_says_the_range(value):
    with pytest.raises(wb.ParamsError, match=r"top_logprobs must be a whole number from 0 to 20"):
        wb.Params.build(logprobs=True, top_logprobs=value)


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_logprobs_must_be_a_bool(value):
    with pytest.raises(wb.ParamsError, match="logprobs is True or False"):
        wb.Params.build(logprobs=value)


def test_logprobs_false_is_the_same_request_as_unset():
    assert wb.Params.build(logprobs=False).set() == wb.Params.build().set() == {}
    assert wb.Params.build(**TOKENS).set() == TOKENS


def test_a_provider_without_logprobs_refuses_before_any_call(runner, fresh_providers):
    class Plain(MockProvider):
        name = "plain"
        supports_logprobs = False

    plain = Plain()
    register_provider("plain", lambda: plain)
    with pytest.raises(wb.UnsupportedParamError, match=r"plain:m does not return token log-probabilities.*Fix"):
        wb.complete("plain:m", "hi", logprobs=True, runner=runner)
    assert plain.calls == []


def test_an_old_mistral_sdk_without_logprobs_is_refused_by_name(monkeypatch, fresh_providers):
    from workbench.providers import _mistral

    monkeypatch.setattr(_mistral, "_sdk_has_logprobs", lambda: False)
    wb.set_key("MISTRAL_API_KEY", "test-key")
    with pytest.raises(wb.UnsupportedParamError, match="mistral:mistral-small-latest does not return token"):
        wb.build_request("mistral:mistral-small-latest", "hi", logprobs=True)


# --- the data --------------------------------------------------------------------------------
def test_confidence_is_the_mean_token_probability_with_min_first_and_joint():
    tokens = [Token("a", math.log(0.9)), Token("b", math.log(0.5)), Token("c", math.log(0.7))]
    c = confidence(tokens)
    assert c == pytest.approx(0.7) and c.min == pytest.approx(0.5) and c.first == pytest.approx(0.9)
    assert c.joint == pytest.approx(0.9 * 0.5 * 0.7) and c.n == 3 and c > 0.6
    assert confidence([]) is None and confidence(None) is None


def test_temperature_view_is_a_softmax_of_logprobs_over_temperature():
    t = Token("x", math.log(0.6), (("x", math.log(0.6)), ("y", math.log(0.3)), ("z", math.log(0.1))))
    at1 = dict(at_temperature(t, 1.0))
    assert at1["x"] == pytest.approx(0.6) and at1["z"] == pytest.approx(0.1)  # renormalised over the shown ones
    cold, hot = dict(at_temperature(t, 0.5)), dict(at_temperature(t, 2.0))
    assert cold["x"] == pytest.approx(0.36 / (0.36 + 0.09 + 0.01))
    assert cold["x"] > at1["x"] > hot["x"] and hot["z"] > at1["z"]
    assert at_temperature(t, 0) == [("x", 1.0), ("y", 0.0), ("z", 0.0)]
    with pytest.raises(wb.TokensError, match="Fix"):
        at_temperature(t, -1)


def test_compact_storage_round_trips():
    choices = [[Token("Hi", -0.12345, (("Hi", -0.12345), ("Hey", -2.5)))], None]
    text = encode_tokens(choices)
    assert text == '[[["Hi",-0.123,[["Hi",-0.123],["Hey",-2.5]]]],null]'
    back = decode_tokens(text)
    assert back[1] is None and back[0][0].text == "Hi" and back[0][0].top[1] == ("Hey", -2.5)
    assert encode_tokens(None) is None and encode_tokens([None]) is None


def test_cividis_scale_ends_and_readable_text():
    assert prob_colour(0) == "#00224e" and prob_colour(1) == "#fee838" and prob_colour(0.5) == "#7d7c78"
    assert text_colour(prob_colour(0)) == "#ffffff" and text_colour(prob_colour(1)) == "#000000"


# --- responses, the log and the cache ----------------------------------------------------------
def test_mock_answer_has_tokens_that_join_to_the_text_and_are_logged(runner):
    r = wb.complete("mock:m", "alpha beta gamma", runner=runner, **TOKENS)
    assert [t.text for t in r.tokens] == ["alpha", " beta", " gamma"]
    assert "".join(t.text for t in r.tokens) == r.text
    assert len(r.tokens[0].top) == 3 and r.tokens[0].top[0][0] == "alpha"
    assert 0 < r.confidence.min <= r.confidence <= 1
    stored = runner.run_log._read(lambda c: c.execute("SELECT tokens_json FROM calls").fetchone()[0])
    assert json.loads(stored)[0][1][0] == " beta"


def test_a_cached_answer_returns_its_tokens(runner):
    first = wb.complete("mock:m", "alpha beta", runner=runner, temperature=0, **TOKENS)
    again = wb.complete("mock:m", "alpha beta", runner=runner, temperature=0, **TOKENS)
    assert again.cached and again.tokens == first.tokens and again.confidence == first.confidence


def test_without_logprobs_there_are_no_tokens(runner):
    r = wb.complete("mock:m", "alpha", runner=runner)
    assert r.tokens is None and r.confidence is None
    assert runner.run_log._read(lambda c: c.execute("SELECT tokens_json FROM calls").fetchone()[0]) is None


def test_a_redacted_answer_drops_its_tokens(runner):
    from tests.conftest import PLANTED_KEY

    wb.set_key("SOME_API_KEY", PLANTED_KEY)
    r = wb.complete("mock:m", f"the key is {PLANTED_KEY}", runner=runner, **TOKENS)
    assert PLANTED_KEY not in r.text and r.tokens is None
    assert PLANTED_KEY not in str(runner.run_log._read(lambda c: c.execute("SELECT * FROM calls").fetchall()))


# --- real SDKs over a loopback fake ----------------------------------------------------------------
@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


@pytest.fixture(params=["openai:gpt-4o-mini", "mistral:mistral-small-latest"])
def sdk_model(request, server, monkeypatch, fresh_providers) -> str:
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("MISTRAL_SERVER_URL", server.mistral_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    wb.set_key("MISTRAL_API_KEY", "test-key")
    return request.param


def test_sdk_sends_logprobs_and_reads_tokens(sdk_model, server, runner):
    r = wb.complete(sdk_model, "one two three", runner=runner, **TOKENS)
    body = server.requests[-1]["json"]
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert [t.text for t in r.tokens] == ["Echo:", " one", " two", " three"]
    assert r.tokens[1].logprob == pytest.approx(fake_logprob(" one"))
    assert [a for a, _ in r.tokens[1].top] == [" one", " ONE", " alt1"]


def test_streamed_chunks_carry_tokens_too(sdk_model, server, runner):
    pieces = list(wb.stream(sdk_model, "one two", runner=runner, **TOKENS))
    assert "".join(pieces) == "Echo: one two"
    call_id = int(runner.run_log.calls().iloc[0]["id"])
    logged = runner.run_log.call(call_id)
    assert [t.text for t in logged.tokens] == ["Echo:", " one", " two"]


def test_openai_cannot_branch_and_says_why_even_for_a_cached_answer(server, monkeypatch, fresh_providers, runner):
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    wb.complete("openai:gpt-4o-mini", "one two", runner=runner, temperature=0, **TOKENS)
    cached = wb.complete("openai:gpt-4o-mini", "one two", runner=runner, temperature=0, **TOKENS)
    assert cached.cached
    sent = len(server.requests)
    with pytest.raises(wb.TokensError, match=r"cannot branch: OpenAI's chat API does not continue.*came from the "
                                             r"log.*Fix: use local:smollm2 or an OpenAI-compatible endpoint"):
        branch(cached, 1, " ONE", runner=runner)
    assert len(server.requests) == sent  # refused before any call
    state = TokenViewState(cached, runner=runner)
    assert not state.can_branch and "does not continue a trailing assistant message" in state.branch_reason


def test_compatible_endpoint_branches_with_a_trailing_assistant_message(server, fresh_providers, runner):
    server.api_key = None
    wb.add_endpoint("vllm", base_url=server.openai_base_url)
    r = wb.complete("vllm:m", "one two three", runner=runner, **TOKENS)
    b = branch(r, 2, " TWO", runner=runner)
    body = server.requests[-1]["json"]
    assert body["messages"][-1] == {"role": "assistant", "content": "Echo: one TWO"}
    assert b.prefix == "Echo: one TWO" and b.text == "Echo: one TWO (continued)"
    assert b.tokens[2].text == " TWO" and b.tokens[2].logprob == pytest.approx(fake_logprob(" two") - 1.5)


# --- branching and the view's state (mock) ----------------------------------------------------------
def test_branch_bad_input_is_named(runner):
    r = wb.complete("mock:m", "alpha beta", runner=runner, **TOKENS)
    with pytest.raises(wb.TokensError, match="position=5 is not a token.*Fix: pass 0 to 1"):
        branch(r, 5, "x", runner=runner)
    with pytest.raises(wb.TokensError, match="'nope' is not among the alternatives.*Fix: pick one"):
        branch(r, 1, "nope", runner=runner)
    with pytest.raises(wb.TokensError, match="no token probabilities.*Fix: call again with logprobs=True"):
        branch(wb.complete("mock:m", "alpha", runner=runner), 0, "x", runner=runner)


def test_token_view_on_a_response_without_tokens_names_the_fix(runner):
    plain = wb.complete("mock:m", "alpha", runner=runner)
    with pytest.raises(wb.TokensError, match=r"Fix: call again with logprobs=True"):
        wb.TokenView(plain)
    with pytest.raises(wb.TokensError, match="needs a wb.Response"):
        TokenViewState("text")  # type: ignore[arg-type]


def test_state_selects_reweights_and_branches(runner):
    r = wb.complete("mock:m", "alpha beta gamma", runner=runner, **TOKENS)
    s = TokenViewState(r, runner=runner)
    seen: list[str] = []
    s.observe(seen.append)
    s.select(1)
    s.set_temperature(0.5)
    assert s.distribution()[0][1] > dict(s.token.alternatives())[" beta"]  # colder: the top one gains
    with pytest.raises(wb.TokensError, match="Fix: pick 0 to 2"):
        s.select(3)
    b = s.branch(" BETA", wait=True)
    assert b.text == "alpha BETA (continued)" and s.branches == [b] and not s.busy
    assert b.response.call_id is not None and b.response.tags["branch_of"] == r.call_id
    assert {"selected", "temperature", "branches"} <= set(seen) and s.listener_errors == []
    html = s.summary_html()
    assert "alpha·BETA" not in html and "BETA" in html and "token probability" in html and "#fee838" in html


def test_widget_buttons_select_and_branch(runner):
    r = wb.complete("mock:m", "alpha beta gamma", runner=runner, **TOKENS)
    view = wb.TokenView(r, runner=runner)
    assert len(view.panel.buttons) == 3 and view.panel.buttons[1].description == "·beta"
    assert "alternatives" in view.panel.buttons[1].tooltip and "%" in view.panel.buttons[1].tooltip
    view.panel.buttons[2].click()
    assert view.state.selected == 2 and "wb-tok-selected" in view.panel.buttons[2]._dom_classes
    alt = view.panel.alts.children[0]
    assert alt.description.startswith("↳ ·GAMMA")
    alt.click()
    view.state.future.result(timeout=10)
    assert len(view.panel.branches.children) == 2 and "GAMMA" in view.panel.branches.children[1].value
    view.panel.temperature.value = 0.2
    assert view.state.temperature == 0.2 and "at temperature 0.2" in view.panel.distribution.value
    bundle = view._repr_mimebundle_()
    assert "wb-token" in bundle["text/html"] and "title=" in bundle["text/html"]


def test_widget_without_branching_has_no_branch_buttons_and_says_why(server, monkeypatch, fresh_providers, runner):
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    view = wb.TokenView(wb.complete("openai:gpt-4o-mini", "one two", runner=runner, **TOKENS), runner=runner)
    assert view.panel.alts.children == ()
    assert "Branching is not available here" in view.panel.no_branch.value
    assert view.panel.no_branch.layout.display != "none"


def test_tokenize_hosted_needs_a_call_and_says_so(server, monkeypatch, fresh_providers, runner):
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    wb.set_key("OPENAI_API_KEY", "test-key")
    with pytest.raises(wb.TokensError, match=r"not available offline.*Fix: wb.tokenize\('openai:gpt-4o-mini', text, "
                                             r"call=True\)"):
        tokenize("openai:gpt-4o-mini", "one two three")
    split = tokenize("openai:gpt-4o-mini", "one two three", call=True, runner=runner)
    assert split.count == 3 and split.source == "usage" and split.pieces is None
    assert server.requests[-1]["json"]["max_completion_tokens"] == 1


# --- the "Tokens" toggle in the Playground and each Compare column ------------------------------------
def test_playground_tokens_toggle_asks_for_logprobs_and_shows_the_lens(runner):
    pg = wb.Playground("alpha beta gamma", model="mock:m", runner=runner)
    assert pg.tokens.area.children == () and pg.tokens.area.layout.display == "none"
    pg.tokens.toggle.value = True
    assert pg.state.params == {"logprobs": True, "top_logprobs": 5}
    pg.state.start().result(timeout=10)
    assert pg.state.answer.response.tokens
    (panel,) = pg.tokens.area.children
    assert [b.description for b in panel.buttons] == ["alpha", "·beta", "·gamma"]
    pg.tokens.split_button.click()
    assert "3</b> prompt tokens for mock:m" in pg.tokens.split.value  # hosted: the count from usage
    pg.tokens.toggle.value = False
    assert pg.state.params == {} and pg.tokens.area.layout.display == "none"


def test_compare_tokens_toggle_is_per_column(runner):
    c = wb.Compare(["alpha beta", "gamma delta"], models="mock:m", runner=runner)
    c.columns[1].tokens.toggle.value = True
    assert [v.params for v in c.state.variants] == [{}, {"logprobs": True, "top_logprobs": 5}]
    c.state.start().result(timeout=10)
    assert [len(col.tokens.area.children) for col in c.columns] == [0, 1]
    c.columns[1].tokens.toggle.value = False
    assert c.state.variants[1].params == {}
