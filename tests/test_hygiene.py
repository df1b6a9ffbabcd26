from __future__ import annotations

import warnings

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import workbench as wb
from workbench import _keys

PLANTED = "sk-proj-PLANTEDkey0123456789abcdefghijkl"


def test_scan_notebook_finds_keys_in_sources_and_outputs_without_repeating_them(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("x = 1"),
        new_code_cell(f'import os\nos.environ["OPENAI_API_KEY"] = "{PLANTED}"'),
        new_code_cell("print(key)", outputs=[new_output("stream", name="stdout", text=f"{PLANTED}\n")]),
    ])
    path = tmp_path / "leaky.ipynb"
    nbformat.write(nb, path)
    findings = wb.scan_notebook(path)
    assert [(f.cell, f.where) for f in findings] == [(1, "source"), (2, "output")]
    assert all(PLANTED not in str(f) for f in findings) and str(findings[0]).startswith("cell 1 (source): sk-p")


def test_clean_notebook_has_no_findings(tmp_path):
    path = tmp_path / "clean.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell('wb.set_key("OPENAI_API_KEY", getpass.getpass())')]), path)
    assert wb.scan_notebook(path) == []


def test_ipython_warns_when_a_cell_with_a_key_runs_and_redacts_it_afterwards():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert wb.watch_cells()
        plain = "zzPLANTEDzz0123456789abcdefghijk"  # no known key shape: redacted only if remembered
        assert _keys.redact(plain) == plain
        with pytest.warns(wb.KeyInNotebookWarning, match="looks like an API key"):
            shell.run_cell(f'MY_API_KEY = "{plain}"')
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            shell.run_cell("y = 2")  # an ordinary cell gives no warning
        assert _keys.redact(f"echo {plain}") == "echo ***"
    finally:
        InteractiveShell.clear_instance()
