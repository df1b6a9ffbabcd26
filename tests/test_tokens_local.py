"""The token lens on the offline model: logprobs without logits_all, branching by continuation, tokenize."""

from __future__ import annotations

import math

import pytest

import workbench as wb
from workbench._lens import branch, tokenize
from workbench.providers import get_provider
from workbench.providers._local import smollm2_path

PROMPT = "Name three colours."


@pytest.fixture(scope="module")
def greedy():
    runner = wb.Runner(log=":memory:", progress=False)
    return runner, wb.complete("local:smollm2", PROMPT, runner=runner, temperature=0, max_tokens=24,
                               logprobs=True, top_logprobs=5)


def test_tokens_join_to_the_answer_and_are_distributions(greedy):
    _, r = greedy
    assert r.tokens and "".join(t.text for t in r.tokens) == r.text
    for t in r.tokens:
        assert len(t.top) == 5 and t.logprob <= 0
        assert sum(math.exp(lp) for _, lp in t.top) <= 1 + 1e-6
        assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
        assert t.text == t.top[0][0] and t.logprob == pytest.approx(t.top[0][1], abs=1e-5)  # greedy = most likely


def test_logprobs_match_llama_cpps_own_logits_all_computation(greedy):
    """The cheap capture gives the numbers llama-cpp-python computes with logits_all=True."""
    from llama_cpp import Llama

    _, r = greedy
    ref = Llama(model_path=str(smollm2_path()), n_ctx=1024, n_threads=1, logits_all=True, verbose=False)
    try:
        out = ref.create_chat_completion(messages=[{"role": "user", "content": PROMPT}], temperature=0,
                                         max_tokens=24, logprobs=True, top_logprobs=5)
    finally:
        ref.close()
    content = out["choices"][0]["logprobs"]["content"]
    assert out["choices"][0]["message"]["content"] == r.text
    for mine, theirs in zip(r.tokens, content, strict=False):
        assert mine.text == theirs["token"]
        assert mine.logprob == pytest.approx(theirs["logprob"], abs=2e-3)


def test_a_branch_continues_from_the_forced_prefix(greedy):
    runner, r = greedy
    same = branch(r, 3, r.tokens[3].text, runner=runner)  # forcing the token it chose: the same greedy answer
    assert same.text == r.text[: len(same.text)] and len(same.text) > len(same.prefix)
    alt = r.tokens[3].top[1][0]
    other = branch(r, 3, alt, runner=runner)
    assert other.prefix == "".join(t.text for t in r.tokens[:3]) + alt
    assert other.text.startswith(other.prefix) and other.text != r.text
    assert other.response.request["messages"][-1] == {"role": "assistant", "content": other.prefix}
    assert other.tokens[3].text == alt and other.response.tokens


def test_tokenize_uses_the_models_own_tokenizer():
    split = tokenize("local:smollm2", "Hello, world\n  ok")
    assert "".join(split.pieces) == "Hello, world\n  ok" and split.count == len(split.ids) == len(split.pieces)
    llama = get_provider("local")._load("smollm2")
    assert split.ids == list(llama.tokenize(b"Hello, world\n  ok", add_bos=False))
    assert "tokens for local:smollm2" in split._repr_html_() and "↵" in split._repr_html_()
