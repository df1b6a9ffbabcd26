from __future__ import annotations

import pytest

import workbench as wb
from workbench import _keys
from workbench.providers import get_provider

FAKE = "sk-test-PLANTED0123456789abcdefXYZ"


def test_missing_key_names_env_var_and_ways_to_set_it(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(wb.MissingKeyError) as err:
        wb.complete("openai:gpt-4o-mini", "hi")
    message = str(err.value)
    assert "OPENAI_API_KEY" in message and ".env" in message and "wb.set_key" in message


def test_key_sources_in_order(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MISTRAL_API_KEY=from-dotenv-0123456789\n")
    assert _keys.get_key("MISTRAL_API_KEY") == "from-dotenv-0123456789"
    monkeypatch.setenv("MISTRAL_API_KEY", "from-environment-0123")
    assert _keys.get_key("MISTRAL_API_KEY") == "from-environment-0123"
    wb.set_key("MISTRAL_API_KEY", "from-session-0123456")
    assert _keys.get_key("MISTRAL_API_KEY") == "from-session-0123456"
    wb.set_key("MISTRAL_API_KEY", None)
    assert _keys.get_key("MISTRAL_API_KEY") == "from-environment-0123"


def test_dotenv_is_not_copied_into_environ(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / ".env").write_text("OPENAI_API_KEY=dotenv-only-key-123456\n")
    assert get_provider("openai").has_key()
    import os

    assert "OPENAI_API_KEY" not in os.environ


def test_redact_removes_known_keys_and_key_shapes():
    wb.set_key("OPENAI_API_KEY", "custom-secret-value-42")
    text = "key custom-secret-value-42 and sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    assert _keys.redact(text) == "key *** and ***"


def test_errors_never_show_a_key():
    wb.set_key("OPENAI_API_KEY", FAKE)
    err = wb.ProviderError(f"server echoed {FAKE}")
    assert FAKE not in str(err) and "***" in str(err)


def test_find_keys_in_text_spots_literal_assignments():
    hits = _keys.find_keys_in_text('OPENAI_API_KEY = "abcdefghijklmnopqrstuvwxyz123456"\nprint(1)')
    assert hits == ["abcdefghijklmnopqrstuvwxyz123456"]
    assert not _keys.looks_like_key("temperature = 0.7")
