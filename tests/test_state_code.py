"""Issue 18, item 13: "Copy as code": the Playground's prompt as ``wb.complete(...)`` and as the raw request.

The generated Python is executed (with the mock provider) and must make the
very request the Playground's Run makes (same ``Request.cache_key``); the raw
request's body must be what the SDK really sends (checked against the
loopback fake OpenAI server), and no key may appear in either.
"""

from __future__ import annotations

import workbench as wb
from workbench import testing
from workbench._runner import get_runner
from workbench.state import PlaygroundState

from .conftest import PLANTED_KEY


def run_code(code: str) -> str:
    """Execute generated code as a user would paste it; the cache key of the call it logged."""
    exec(compile(code, "<copied code>", "exec"), {"__name__": "__copied__"})
    log = get_runner().run_log
    assert log is not None
    return str(log.calls(limit=1)["cache_key"][0])


def test_code_makes_the_same_request_as_run(runner):
    model = testing.script("code", [])
    s = PlaygroundState(wb.Prompt(system="You are brief.\nOne line only.", user="Tell me about {topic} {{not a var}}.",
                                  examples=[("Tell me about cats.", "Cats purr.")]),
                        model, topic='owls "at night"\nand day', temperature=0.3, max_tokens=40, stop=["\n\n"],
                        seed=7, runner=runner)
    code = s.code()
    assert "wb.complete(" in code and "temperature=0.3" in code and "max_tokens=40" in code and "seed=7" in code
    assert "top_p" not in code  # only the parameters that are set
    assert run_code(code) == s.prepare().cache_key


def test_code_for_awkward_variable_names_and_no_parameters(runner):
    model = testing.script("code2", [])
    s = PlaygroundState(wb.Prompt(user="{prompt} then {model}"), model, runner=runner,
                        variables={"prompt": "a", "model": "b"})
    code = s.code()
    assert "variables={" in code  # complete()'s own argument names cannot be passed by name
    assert run_code(code) == s.prepare().cache_key


def test_raw_request_is_the_body_the_sdk_sends(fake_model, keyed_fake, runner):
    s = PlaygroundState(wb.Prompt(system="Be brief.", user="Name {thing}."), fake_model, thing="a tree",
                        temperature=0.5, max_tokens=16, seed=3, runner=runner)
    raw = s.raw_request()  # readable before any key is set
    assert raw.target == f"POST {keyed_fake.openai_base_url.rstrip('/')}/chat/completions"
    assert raw.headers["Authorization"] == "Bearer $FAKEAPI_KEY"
    wb.set_key("FAKEAPI_KEY", PLANTED_KEY)
    wb.complete(fake_model, s.prompt(), thing="a tree", temperature=0.5, max_tokens=16, seed=3, runner=runner)
    sent = keyed_fake.requests[-1]
    assert sent["json"] == raw.body
    assert sent["path"].endswith("/chat/completions")
    for text in (raw.text, s.code()):
        assert PLANTED_KEY not in text


def test_raw_request_for_the_local_model_and_mock(runner):
    s = PlaygroundState("Say hi.", "local:smollm2", temperature=0.2, runner=runner)
    raw = s.raw_request()
    assert raw.provider == "local" and "create_chat_completion" in raw.target
    assert raw.body == {"messages": [{"role": "user", "content": "Say hi."}], "temperature": 0.2, "max_tokens": 512}
    s.model = testing.script("code3", [])
    assert s.raw_request().body == {"model": "code3", "messages": [{"role": "user", "content": "Say hi."}],
                                    "temperature": 0.2}


def test_raw_request_for_mistral_names_the_key_variable_only(monkeypatch, runner):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    s = PlaygroundState("Say hi.", "mistral:mistral-small-latest", seed=4, runner=runner)
    raw = s.raw_request()
    assert raw.target == "POST https://api.mistral.ai/v1/chat/completions"
    assert raw.headers["Authorization"] == "Bearer $MISTRAL_API_KEY"
    assert raw.body["random_seed"] == 4 and "seed" not in raw.body
