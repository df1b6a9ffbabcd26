"""Exports: CSV/JSON, the self-contained HTML report and promptfoo YAML; no key ever leaves in them."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest
import yaml

import workbench as wb
from tests.fakeserver import FakeServer

from .results_factory import make_results

PLANTED = "sk-proj-PLANTEDfakeKEY0123456789abcdefXYZ"  # looks like an OpenAI key; the fake server accepts it


@pytest.fixture
def leaky(monkeypatch, fresh_providers, runner):
    """Results whose cases, prompts and answers all contain the planted key (echoed back by the fake)."""
    with FakeServer(api_key=PLANTED) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        wb.set_key("OPENAI_API_KEY", PLANTED)
        cases = pd.DataFrame({"q": [f"my key is {PLANTED}", "hello", "bonjour"], "expected": ["x", "Echo: hello", "y"]})
        prompts = {"plain": wb.Prompt(user="{q}"), "leaky": wb.Prompt(system=f"Key {PLANTED}", user="Say: {q}")}
        exp = wb.Experiment(prompts, models="openai:gpt-4o-mini", params={"temperature": [0, 1]}, cases=cases,
                            scorers=[wb.scorers.exact_match(), wb.scorers.contains("echo")], repeats=2,
                            name="leaky", runner=runner)
        results = exp.run(progress=False, verbose=False)
        # the runner already redacts answers; plant the key in the table too, so the exports' own redaction is tested
        results.loc[0, "output"] = f"leaked {PLANTED}"
        results.loc[1, "exact_match_explanation"] = f"compared with {PLANTED}"
        assert PLANTED in results.attrs["prompts"]["leaky"]["system"]
        yield exp, results


def test_csv_and_json_round_trip_without_the_key(leaky, tmp_path):
    _, results = leaky
    csv_path = wb.results_to_csv(results, tmp_path / "r.csv")
    json_path = wb.results_to_json(results, tmp_path / "r.json")
    for path in (csv_path, json_path):
        assert PLANTED not in path.read_text(encoding="utf-8")
    back = pd.read_csv(csv_path)
    assert len(back) == len(results) and list(back.columns) == list(results.columns)
    rows = json.loads(json_path.read_text(encoding="utf-8"))
    assert len(rows) == len(results) and rows[0]["variant"] == "plain" and rows[0]["output"] == "leaked ***"


def test_html_report_is_self_contained_with_plots_summary_and_verdicts(leaky, tmp_path):
    _, results = leaky
    path = wb.report_html(results, tmp_path / "report.html", title="Leaky test")
    text = path.read_text(encoding="utf-8")
    assert PLANTED not in text
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) >= 5  # scores x2 scorers, sweep, distribution, heatmap, pareto
    assert all(base64.b64decode(png).startswith(b"\x89PNG") for png in images)
    assert not re.search(r"(src|href)=['\"]?https?:", text)  # nothing loaded from elsewhere
    assert "<h1>Leaky test</h1>" in text and "<h2>Summary</h2>" in text and "<h2>Verdicts</h2>" in text
    assert text.count("class='verdict") == 2  # plain vs leaky, for each scorer
    assert "cannot tell plain and leaky apart" in text or "scores higher" in text
    summary = wb.summarize(results)
    assert text.count("<td>plain</td>") >= len(summary[summary.variant == "plain"])
    assert "Say: {q}" in text  # the prompts are shown


def test_html_report_as_a_string_and_with_judge_agreement():
    results = make_results({("v1", "m"): [[1], [0], [1], [1]], ("v2", "m"): [[0], [0], [1], [0]]})
    results["rating"] = [1, -1, 1, -1, 1, -1, 1, -1]
    html = wb.report_html(results)
    assert isinstance(html, str) and html.startswith("<!DOCTYPE html>")
    assert "Judge against human ratings" in html


def test_report_needs_scores():
    plain = make_results({("v1", "m"): [[1]]}).drop(columns=["quality", "quality_passed", "quality_explanation"])
    plain.attrs["scorers"] = []
    with pytest.raises(wb.WorkbenchError, match="no scorer columns"):
        wb.report_html(plain)


def test_promptfoo_yaml(leaky, tmp_path):
    exp, _ = leaky
    path = wb.to_promptfoo(exp, tmp_path / "promptfooconfig.yaml")
    text = path.read_text(encoding="utf-8")
    assert PLANTED not in text
    config = yaml.safe_load(text)
    assert [p["label"] for p in config["prompts"]] == ["plain", "leaky"]
    messages = json.loads(config["prompts"][1]["raw"])
    assert messages[-1] == {"role": "user", "content": "Say: {{q}}"} and messages[0]["role"] == "system"
    assert [p["id"] for p in config["providers"]] == ["openai:chat:gpt-4o-mini"] * 2
    assert [p["config"]["passthrough"]["temperature"] for p in config["providers"]] == [0, 1]
    assert all(p["config"]["omitDefaults"] for p in config["providers"])  # nothing unset sent as a default
    asserts = config["defaultTest"]["assert"]
    assert [(a["type"], a["metric"]) for a in asserts] == [("python", "exact_match"), ("python", "contains")]
    assert "scorers.contains(text='echo', case_sensitive=False)" in asserts[1]["value"]
    assert len(config["tests"]) == 3 and config["tests"][1]["vars"] == {"q": "hello", "expected": "Echo: hello"}
    assert config["evaluateOptions"]["repeat"] == 2


def test_promptfoo_lists_what_it_cannot_express(runner):
    exp = wb.Experiment(wb.Prompt(user='Reply in JSON like {{"a": 1}} about {topic}'), models="local:smollm2",
                        cases=pd.DataFrame({"topic": ["owls"]}),
                        scorers=[wb.scorers.custom(lambda o: True, name="mine"), wb.scorers.valid_json()],
                        runner=runner)
    text = wb.to_promptfoo(exp)
    assert "# Not exported: local:smollm2" in text and "scorers mine" in text
    config = yaml.safe_load(text)
    assert config["providers"] == [] and [a["type"] for a in config["defaultTest"]["assert"]] == ["python"]
    content = json.loads(config["prompts"][0]["raw"])[0]["content"]
    assert content == 'Reply in JSON like {"a": 1} about {{topic}}'


def test_promptfoo_asks_each_provider_for_its_parameter_names(runner, fresh_providers):
    from workbench.providers import register_provider
    from workbench.providers._openai import CompatibleProvider

    class Renaming(CompatibleProvider):
        def map_params(self, params):
            return {f"my_{k}": v for k, v in params.set().items()}

    wb.set_key("OPENAI_API_KEY", "sk-test-0123456789")
    wb.set_key("MISTRAL_API_KEY", "test-key")
    wb.add_endpoint("ollama", base_url="http://localhost:11434/v1", models=["llama3.2"])
    register_provider("odd", lambda: Renaming("odd", "http://localhost:9/v1", models=["m"]))
    models = ["openai:gpt-4o-mini", "mistral:mistral-small-latest", "ollama:llama3.2", "odd:m"]
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=models, params={"seed": 7, "max_tokens": 9, "n": 2},
                        cases=pd.DataFrame({"q": ["hi"]}), runner=runner)
    providers = yaml.safe_load(wb.to_promptfoo(exp))["providers"]
    assert [p["id"] for p in providers] == ["openai:chat:gpt-4o-mini", "mistral:mistral-small-latest",
                                            "openai:chat:llama3.2", "openai:chat:m"]
    configs = [p["config"] for p in providers]
    # n is not exported (promptfoo scores one answer), and says so in the header
    assert configs[0] == {"omitDefaults": True, "passthrough": {"seed": 7, "max_completion_tokens": 9}}
    assert configs[1] == {"random_seed": 7, "max_tokens": 9}
    assert configs[2] == {"apiBaseUrl": "http://localhost:11434/v1", "omitDefaults": True,
                          "passthrough": {"seed": 7, "max_tokens": 9}}
    assert configs[3] == {"apiBaseUrl": "http://localhost:9/v1", "omitDefaults": True,
                          "passthrough": {"my_seed": 7, "my_max_tokens": 9}}
    assert "# Not exported: n=2" in wb.to_promptfoo(exp)
    assert providers[1]["label"] == "mistral:mistral-small-latest (seed=7, max_tokens=9, n=2)"
