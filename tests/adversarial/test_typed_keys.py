"""Issue 11, item 9: a key typed into a Playground field is warned about and never reaches the summary."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.state import PlaygroundState

ENV_KEY = "wbEnvKey-5Jx8Qa2Lm7Rt9Vc4"  # no provider's shape: only the environment makes it a key
OPENAI_SHAPED = "sk-proj-" + "Zq7Wm2Xr9Tb4" * 3
MISTRAL_SHAPED = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF"  # 32 letters and digits, as Mistral's keys are


@pytest.mark.parametrize("key", [ENV_KEY, OPENAI_SHAPED, MISTRAL_SHAPED])
@pytest.mark.parametrize("field", ["variable", "user", "system"])
def test_a_key_typed_into_a_saved_field_is_warned_about_and_kept_out_of_the_summary(monkeypatch, key, field):
    monkeypatch.setenv("MY_SERVICE_API_KEY", ENV_KEY)
    s = PlaygroundState(wb.Prompt(user="Summarise: {text}"), "mock:echo", log=":memory:")
    assert s.key_warning is None
    if field == "variable":
        s.set_variable("text", f"the key {key} here")
    elif field == "user":
        s.user = f"Summarise: {{text}} with {key}"
        s.set_variable("text", "x")
    else:
        s.system = f"Use {key}."
    warning = s.key_warning
    assert warning is not None and "looks like an API key" in warning and "Fix:" in warning
    assert {"variable": "variable {text}", "user": "user message", "system": "system message"}[field] in warning
    assert key not in warning  # the warning shows the first characters only
    for summary in (s.summary_html(), s.summary_text()):
        assert key not in summary and "***" in summary


def test_ordinary_text_is_not_a_key():
    s = PlaygroundState(wb.Prompt(user="Summarise: {text}"), "mock:echo", log=":memory:")
    s.set_variable("text", "The quick brown fox jumps over the lazy dog; sha1 3f786850e387550fdab836ed7e6dc881de23001b")
    assert s.key_warning is None


def test_the_playground_widget_shows_the_warning(monkeypatch):
    pytest.importorskip("ipywidgets")
    pg = wb.Playground(wb.Prompt(user="Summarise: {text}"), "mock:echo", log=":memory:")
    assert pg.key_warning.value == ""
    pg.variable_field("text").value = "here " + OPENAI_SHAPED
    assert "looks like an API key" in pg.key_warning.value
    pg.variable_field("text").value = "plain text"
    assert pg.key_warning.value == ""
