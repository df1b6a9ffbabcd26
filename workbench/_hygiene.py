"""Catch API keys pasted into notebooks before they are saved, shared or committed.

A key typed into a cell ends up in the ``.ipynb`` file, its checkpoints and
every copy sent to a colleague. ``scan_notebook`` finds such keys in a saved
notebook (sources and outputs); ``watch_cells`` makes IPython warn the moment a
cell containing one is run, and adds the value to the redaction list so that
at least the run log, errors and exports never repeat it.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._keys import _remember, find_keys_in_text

__all__ = ["KeyFinding", "scan_notebook", "watch_cells", "KeyInNotebookWarning"]

_ADVICE = ("Keys in a notebook end up in saved files and shared copies. Fix: delete it from the cell, put it in a "
           ".env file (OPENAI_API_KEY=...) or run wb.set_key('OPENAI_API_KEY', getpass.getpass()), and revoke the key "
           "if the notebook was shared.")


class KeyInNotebookWarning(UserWarning):
    """A cell contains what looks like a literal API key."""


@dataclass(frozen=True)
class KeyFinding:
    cell: int
    where: str  # "source" or "output"
    preview: str  # the first characters only, never the whole key

    def __str__(self) -> str:
        return f"cell {self.cell} ({self.where}): {self.preview}"


def _preview(key: str) -> str:
    return key[:4] + "…" + f"({len(key)} characters)"


def _output_text(output: dict[str, Any]) -> str:
    parts = [output.get("text", "")]
    for value in (output.get("data") or {}).values():
        parts.append(value if isinstance(value, str) else json.dumps(value))
    parts += output.get("traceback", [])
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def scan_notebook(path: str | Path) -> list[KeyFinding]:
    """Every place in a saved notebook (sources and outputs) that looks like an API key."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    findings: list[KeyFinding] = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        findings += [KeyFinding(index, "source", _preview(k)) for k in find_keys_in_text(source)]
        for output in cell.get("outputs", []):
            findings += [KeyFinding(index, "output", _preview(k)) for k in find_keys_in_text(_output_text(output))]
    findings += [KeyFinding(-1, "metadata", _preview(k))
                 for k in find_keys_in_text(json.dumps(nb.get("metadata", {})))]
    return findings


def _warn_if_key(info: Any) -> None:
    keys = find_keys_in_text(getattr(info, "raw_cell", "") or "")
    for key in keys:
        _remember(key)
    if keys:
        warnings.warn(f"This cell contains what looks like an API key ({_preview(keys[0])}). {_ADVICE}",
                      KeyInNotebookWarning, stacklevel=2)


def watch_cells() -> bool:
    """In IPython/Jupyter, warn whenever a cell with a literal key is run. Returns whether it is watching."""
    ipython_module = sys.modules.get("IPython")
    shell = ipython_module.get_ipython() if ipython_module else None
    if shell is None:
        return False
    callbacks = shell.events.callbacks.get("pre_run_cell", [])
    if _warn_if_key not in callbacks:
        shell.events.register("pre_run_cell", _warn_if_key)
    return True
