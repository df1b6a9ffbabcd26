"""pyproject.toml and environment.yml must name the same dependencies, with the same bounds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
MIRRORED_EXTRAS = ("openai", "mistral", "models", "lab", "lint")


def _normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in MIRRORED_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return dict(_normalise(r) for r in reqs)


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs: list[str] = []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            reqs += [r for r in item["pip"] if not r.startswith("-e")]
        elif not re.fullmatch(r"(python|pip)([<>=!].*)?", item):
            reqs.append(item)
    return dict(_normalise(r) for r in reqs)


def test_environment_yml_mirrors_pyproject():
    assert _environment() == _pyproject()


def test_package_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "prompt-workbench" and project["requires-python"] == ">=3.10"


def test_import_is_lazy_and_fast():
    """``import workbench`` loads no SDK, llama.cpp, pandas, matplotlib or ipywidgets."""
    code = ("import sys, workbench; heavy = ['openai', 'mistralai', 'llama_cpp', 'pandas', 'matplotlib', "
            "'ipywidgets', 'pydantic', 'httpx2']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_names_resolve():
    import workbench as wb

    missing = [name for name in wb.__all__ if not hasattr(wb, name)]
    assert missing == []
