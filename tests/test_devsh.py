"""dev.sh's install step, run against a fake venv python (no real install): the prebuilt
llama-cpp-python wheel is tried first, compiling is the fallback, and a long step prints progress."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A stand-in for "$VENV/bin/python": records each call, then behaves as the test asks
# (FAKE_PREBUILT=ok|fail for the --only-binary attempt; FAKE_COMPILE_SECONDS for the source build).
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_CALLS"
case "$*" in
    *"import llama_cpp"*) exit 1 ;;
    *--only-binary*)
        echo "ERROR: Could not find a version that satisfies the requirement llama-cpp-python"
        [ "$FAKE_PREBUILT" = ok ] && exit 0 || exit 1 ;;
    *"llama-cpp-python>="*) sleep "${FAKE_COMPILE_SECONDS:-0}"; echo "Building wheel for llama-cpp-python"; exit 0 ;;
esac
exit 0
"""


def _run(tmp_path: Path, prebuilt: str, compile_seconds: int = 0) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    if shutil.which("bash") is None:
        pytest.fail("dev.sh needs bash")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "WORKBENCH_VENV": str(venv), "FAKE_CALLS": str(calls), "FAKE_PREBUILT": prebuilt,
           "FAKE_COMPILE_SECONDS": str(compile_seconds), "WORKBENCH_PROGRESS_SECONDS": "1"}
    out = subprocess.run(["bash", str(ROOT / "dev.sh"), "setup", "lab"], env=env, capture_output=True, text=True,
                         timeout=60)
    return out, calls.read_text().splitlines()


def test_prebuilt_wheel_is_tried_first_and_compiling_is_skipped_when_it_installs(tmp_path):
    out, calls = _run(tmp_path, "ok")
    assert out.returncode == 0, out.stderr
    prebuilt = [c for c in calls if "--only-binary" in c]
    assert len(prebuilt) == 1
    assert "--extra-index-url https://abetlen.github.io/llama-cpp-python/whl/cpu" in prebuilt[0]
    assert "--retries 0" in prebuilt[0] and "--timeout 10" in prebuilt[0]  # fails fast offline
    assert not [c for c in calls if "llama-cpp-python>=" in c and "--only-binary" not in c]  # no compile
    assert "prebuilt wheel installed" in out.stdout
    assert calls.index(prebuilt[0]) < next(i for i, c in enumerate(calls) if "-e .[lab]" in c)


def test_without_a_prebuilt_wheel_it_compiles_with_progress_lines_and_the_log_path(tmp_path):
    out, calls = _run(tmp_path, "fail", compile_seconds=3)
    assert out.returncode == 0, out.stderr
    compile_calls = [c for c in calls if "llama-cpp-python>=" in c and "--only-binary" not in c]
    assert len(compile_calls) == 1
    assert calls.index(compile_calls[0]) > next(i for i, c in enumerate(calls) if "--only-binary" in c)
    assert "no prebuilt wheel" in out.stdout and "about 7 minutes" in out.stdout
    progress = [line for line in out.stdout.splitlines() if "still compiling llama-cpp-python" in line]
    assert len(progress) >= 2, out.stdout  # one line per second here (WORKBENCH_PROGRESS_SECONDS=1)
    assert "elapsed" in progress[0] and str(tmp_path / "venv" / "install.log") in progress[0]
    assert "compiling llama-cpp-python took 0m0" in out.stdout
    log = (tmp_path / "venv" / "install.log").read_text()
    assert "Could not find a version" in log and "Building wheel" in log  # both attempts kept in the log
    assert list((tmp_path / "venv").glob(".installed-lab-*"))  # the stamp: the next start skips all this


def test_an_installed_engine_is_not_reinstalled(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON.replace('*"import llama_cpp"*) exit 1', '*"import llama_cpp"*) exit 0'))
    python.chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "WORKBENCH_VENV": str(venv), "FAKE_CALLS": str(calls)}
    out = subprocess.run(["bash", str(ROOT / "dev.sh"), "setup", "lab"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert not [c for c in calls.read_text().splitlines() if "llama-cpp-python" in c]
