"""The bad-input table: each mistake gets its own error type and a message naming the problem and
the fix, raised before any call is spent (the loopback server counts every request it sees)."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import workbench as wb
from tests.fakeserver import FakeServer

MODEL = "openai:gpt-4o-mini"
PROMPT = wb.Prompt(system="You translate.", user="Translate to French: {text}")


@pytest.fixture
def fake(monkeypatch, fresh_providers):
    with FakeServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        wb.set_key("OPENAI_API_KEY", "test-key")
        yield server


def _refused(fake, log, call, error, *fragments):
    with pytest.raises(error) as err:
        call()
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Fix" in message, message
    assert fake.stats["requests"] == 0 and log.count() == 0
    return message


def test_missing_variable(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, runner=runner), wb.PromptError,
             "Missing variable 'text'", "text=")


def test_unused_variable(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, text="hi", txet="hi", runner=runner), wb.PromptError,
             "Unused variable 'txet'", "Did you mean 'text'")


def test_unknown_model(fake, log, runner):
    _refused(fake, log, lambda: wb.complete("openai:gtp-4o-mini", PROMPT, text="hi", runner=runner),
             wb.ModelNotFoundError, "Unknown model 'openai:gtp-4o-mini'", "openai:gpt-4o-mini", "wb.add_model")


def test_unknown_parameter(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, text="hi", temprature=0.5, runner=runner),
             wb.ParamsError, "Unknown parameter 'temprature'", "'temperature'")


def test_temperature_out_of_range(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, text="hi", temperature=3, runner=runner),
             wb.ParamsError, "temperature=3", "from 0 to 2")


def test_max_tokens_zero(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, text="hi", max_tokens=0, runner=runner),
             wb.ParamsError, "max_tokens=0", "from 1 to 32768")


def test_empty_prompt(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, wb.Prompt(user=" "), runner=runner), wb.PromptError,
             "The user message is empty")


def test_prompt_longer_than_the_local_context_window(fake, log, runner):
    with pytest.raises(wb.ContextWindowError) as err:
        wb.complete("local:smollm2", "word " * 5000, max_tokens=64, runner=runner)
    assert "context window of 4096 tokens" in str(err.value) and "Fix: shorten the prompt" in str(err.value)
    row = log.calls().iloc[0]  # logged as an error, nothing generated
    assert row["status"] == "error" and row["completion_tokens"] == 0


def test_non_string_variable(fake, log, runner):
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, text=["a", "list"], runner=runner), wb.PromptError,
             "Variable 'text' is a list", "json.dumps")


def test_invalid_json_schema_given_to_a_scorer(fake, log):
    _refused(fake, log, lambda: wb.scorers.json_schema({"type": "objekt"}), wb.ScorerError,
             "JSON schema", "invalid")


def test_cases_csv_with_missing_columns(fake, log, runner, tmp_path):
    path = tmp_path / "cases.csv"
    pd.DataFrame({"txt": ["hello"], "expected": ["bonjour"]}).to_csv(path, index=False)
    _refused(fake, log, lambda: wb.Experiment(PROMPT, models=MODEL, cases=str(path), runner=runner), wb.CasesError,
             "text")


def test_corrupt_sqlite_file_as_the_log(fake, log, tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"\x00garbage" * 500)
    _refused(fake, log, lambda: wb.Runner(log=bad), wb.RunLogError, "not a readable SQLite database")


def test_foreign_sqlite_file_as_the_log(fake, log, tmp_path):
    foreign = tmp_path / "crm.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    _refused(fake, log, lambda: wb.configure(log=foreign), wb.RunLogError, "another program", "invoices")


def test_missing_key(fake, log, runner):
    wb.set_key("OPENAI_API_KEY", None)
    _refused(fake, log, lambda: wb.complete(MODEL, PROMPT, text="hi", runner=runner), wb.MissingKeyError,
             "OPENAI_API_KEY", ".env", "wb.set_key")


def test_experiment_checks_every_cell_before_the_first_call(fake, log, runner):
    cases = pd.DataFrame({"text": ["hello", None]})  # an empty cell in the second case
    _refused(fake, log, lambda: wb.Experiment(PROMPT, models=MODEL, cases=cases, runner=runner).run(progress=False),
             wb.CasesError, "Case 1", "'text'")
