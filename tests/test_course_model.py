"""The course's model is chosen in one place (issue 17): ``wb.course_model()`` and ``wb.stronger_model()``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench as wb
from workbench.providers._local import smollm2_path

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0[0-8]_*.ipynb"))


@pytest.fixture
def clean_env(monkeypatch, fresh_providers):
    for name in ("WORKBENCH_MODEL", "WORKBENCH_STRONG_MODEL", "OPENAI_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_course_model_is_smollm2_even_with_a_key(clean_env):
    wb.set_key("OPENAI_API_KEY", "sk-test-not-used-0000000000")
    assert wb.default_model() == "openai:gpt-4o-mini"   # the workbench's default follows the key...
    assert wb.course_model() == "local:smollm2"          # ...the course does not switch to a paid model silently


def test_course_model_reads_workbench_model(clean_env):
    clean_env.setenv("WORKBENCH_MODEL", "mistral:mistral-small-latest")
    assert wb.course_model() == "mistral:mistral-small-latest"


def test_no_stronger_model_offline(clean_env):
    assert wb.stronger_model() is None


@pytest.mark.parametrize(("env", "value", "expected"), [
    ("WORKBENCH_STRONG_MODEL", "openai:gpt-4o", "openai:gpt-4o"),
    ("WORKBENCH_MODEL", "openai:gpt-4o-mini", "openai:gpt-4o-mini"),
    ("WORKBENCH_MODEL", "local:smollm2", None),   # the course model itself is not "stronger"
])
def test_stronger_model_from_the_environment(clean_env, env, value, expected):
    clean_env.setenv(env, value)
    assert wb.stronger_model() == expected


def test_stronger_model_from_a_key_or_a_local_file(clean_env):
    wb.add_local_model("bigger", smollm2_path())   # any GGUF registered besides SmolLM2 counts
    assert wb.stronger_model() == "local:bigger"
    wb.set_key("MISTRAL_API_KEY", "test-not-used-0000000000")
    assert wb.stronger_model() == "mistral:mistral-small-latest"   # a hosted model comes before a local one


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_reads_the_course_model(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    first_code = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    model_lines = [line for line in first_code.splitlines() if line.startswith("MODEL =")]
    assert model_lines and model_lines[0].split("#")[0].strip() == "MODEL = wb.course_model()", model_lines
