"""Issue 11, items 7 and 9 (and 6 and 8 again): one key, planted everywhere a user could put it, is found
in no file the workbench writes.

The key is set the way a user sets it (``OPENAI_API_KEY`` in the environment) and then typed where it
does not belong: a prompt variable, a case, an ``expected`` value (which ``exact_match`` and
``similarity`` quote in their explanations), a version note, a rating note, the password of a base URL
and a Playground variable. A notebook doing all of that, with a run log (SQLite, WAL mode), every
export (CSV, JSON, HTML report, promptfoo YAML) and a Playground, is executed in a real kernel
(nbclient) and saved; then every byte of every file under the folder is searched for the key,
including the log's ``-wal`` and ``-shm`` files copied while the log was still open.

One place may keep it, and the test checks exactly that one: the saved widget *state* of the text
field the user typed the key into (Jupyter stores what a field holds; the Playground warns about it
instead, item 9). The Playground's static summary, and everything else, must not hold it.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.fakeserver import FakeServer

#: Not shaped like any provider key, so only "a known key" (the environment) can catch it.
KEY = "wbPlanted7Qx9Zr4Lm2Vt8Kc5Hd3"


def _cells(base_url: str, creds_url: str) -> list[str]:
    return [
        "import os, shutil, pathlib\nimport pandas as pd\nimport workbench as wb\n"
        "KEY = os.environ['OPENAI_API_KEY']  # assembled in the kernel: the source never holds it\n"
        "out = pathlib.Path('out'); out.mkdir()",
        f"wb.add_endpoint('fake', {base_url!r}, models=['fake-model'], key_env='OPENAI_API_KEY')\n"
        f"wb.add_endpoint('creds', {creds_url!r}.replace('PASSWORD', KEY), models=['fake-model'])\n"
        "log = wb.RunLog(out / 'runs.sqlite')\n"
        "runner = wb.Runner(log=log, progress=False, max_retries=0)",
        "cases = pd.DataFrame({'q': ['say ' + KEY, 'hello'], 'expected': [KEY, 'Echo: hello']})\n"
        "exp = wb.Experiment(wb.Prompt(user='{q}'), models=['fake:fake-model', 'creds:fake-model'], cases=cases,\n"
        "                    scorers=[wb.scorers.exact_match(), wb.scorers.similarity()], runner=runner)\n"
        "res = exp.run(progress=False, verbose=False)\n"
        "res",
        "res[['exact_match_explanation', 'similarity_explanation']]",
        "v = log.save_version('v1', wb.Prompt(user='{q}'), {'temperature': 0.1}, 'fake:fake-model',\n"
        "                     note='works with ' + KEY)\n"
        "log.rate(int(res['call_id'].iloc[0]), 1, note='key was ' + KEY)",
        "wb.results_to_csv(res, out / 'results.csv')\nwb.results_to_json(res, out / 'results.json')\n"
        "wb.report_html(res, out / 'report.html')\nwb.to_promptfoo(exp, out / 'promptfooconfig.yaml')",
        "pg = wb.Playground(wb.Prompt(user='Summarise: {text}'), 'fake:fake-model', log=log)\n"
        "pg.variable_field('text').value = 'my key is ' + KEY  # what the browser sends as the user types\n"
        "pg.state.run(timeout=60)\n"
        "pg",
        "warning = pg.state.key_warning\nprint(warning)",
        "log.flush()\n"
        "for f in out.glob('runs.sqlite*'):  # the WAL and shared-memory files as they are while the log is open\n"
        "    shutil.copy(f, out / ('open-' + f.name))",
    ]


def _widget_state_values(nb: nbformat.NotebookNode) -> list[str]:
    """The ``value`` of every text field in the saved widget state (what the user typed)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [m["state"]["value"] for m in state.values()
            if isinstance(m.get("state", {}).get("value"), str) and m.get("model_name") in ("TextModel",
                                                                                             "TextareaModel")]


@pytest.mark.timeout(600)
def test_a_planted_key_is_in_no_file_the_workbench_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "default-runs.sqlite"))
    with FakeServer(api_key=None) as server:
        host = server.url.removeprefix("http://")
        cells = _cells(server.openai_base_url, f"http://wbuser:PASSWORD@{host}/v1")
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = tmp_path / "planted.ipynb"
    nbformat.write(nb, str(saved))

    out = tmp_path / "out"
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    names = {p.name for p in written}
    # every kind of file was really written (else the search below proves nothing)
    for name in ("runs.sqlite", "open-runs.sqlite-wal", "open-runs.sqlite-shm", "results.csv", "results.json",
                 "report.html", "promptfooconfig.yaml", "planted.ipynb"):
        assert name in names, (name, sorted(names))
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 4 and {r["model"] for r in results} == {"fake:fake-model", "creds:fake-model"}
    assert all(r["error"] is None for r in results), results  # the calls went through (with the URL password)
    assert any("***" in (r["exact_match_explanation"] or "") for r in results)

    # the saved notebook: the key only where the user typed it (the field's widget state), never in
    # the cells' outputs (results table, explanations, the Playground's summary) ...
    notebook = nbformat.read(str(saved), as_version=4)
    typed = [v for v in _widget_state_values(notebook) if KEY in v]
    assert typed == ["my key is " + KEY], typed
    outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert KEY not in outputs, outputs[max(0, outputs.find(KEY) - 300):outputs.find(KEY) + 60]
    # ... and the Playground warned about it, in the widget
    warning = "".join(o.get("text", "") for o in notebook.cells[7].outputs)
    assert "text" in warning and "looks like an API key" in warning, warning

    needle = KEY.encode()
    print(f"planted key: searched {len(written)} files, {sum(p.stat().st_size for p in written)} bytes")
    for path in written:
        data = path.read_bytes()
        if path == saved:
            # its one allowed place removed: the saved value of the field the key was typed into
            data = json.dumps({**notebook, "metadata": {}}).encode()
        assert needle not in data, (path.name, data[max(0, data.find(needle) - 200):data.find(needle) + 60])
