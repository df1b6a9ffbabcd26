"""Items 6 and 8: no key in the ``versions`` table, and credentials inside a base URL are secrets too."""

from __future__ import annotations

import pandas as pd

import workbench as wb
from tests.conftest import PLANTED_KEY
from tests.fakeserver import FakeServer
from workbench._portal import run_sync

URL_PASSWORD = "wbPassw0rd-XYZ"
URL_QUERY_KEY = "QUERYSECRET12345"


def _written(path) -> bytes:
    """Every byte the log wrote: the database, its WAL and shared memory file."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_version_names_and_notes_are_stored_redacted(tmp_path):
    wb.set_key("OPENAI_API_KEY", PLANTED_KEY)
    path = tmp_path / "runs.sqlite"
    log = wb.RunLog(path)
    version = log.save_version(f"try {PLANTED_KEY}", wb.Prompt(user="u {x}"), {"temperature": 0.2},
                               "openai:gpt-4o-mini", note=f"works with key {PLANTED_KEY}")
    assert PLANTED_KEY not in version.name and PLANTED_KEY not in (version.note or "")
    assert PLANTED_KEY.encode() not in _written(path)
    # a key-shaped string nobody registered is masked as well
    log.save_version("v2", wb.Prompt(user="u {x}"), {}, None, note="sk-proj-" + "A1b2C3d4" * 4)
    assert b"A1b2C3d4A1b2C3d4" not in _written(path)


def test_credentials_in_a_base_url_never_reach_the_log_errors_or_export(tmp_path, fresh_providers):
    path = tmp_path / "runs.sqlite"
    runner = wb.Runner(log=wb.RunLog(path), progress=False, max_retries=0)
    with FakeServer(api_key=None) as server:
        host = server.url.removeprefix("http://")
        wb.add_endpoint("creds", f"http://wbuser:{URL_PASSWORD}@{host}/v1", models=["fake-model"])
        wb.add_endpoint("query", f"http://127.0.0.1:1/v1?api-key={URL_QUERY_KEY}", models=["fake-model"])
        ok = run_sync(runner.call(runner.prepare("creds:fake-model", wb.Prompt(user="hi"))))
        failed = run_sync(runner.call(runner.prepare("query:fake-model", wb.Prompt(user="hi"))))
    assert ok.ok, ok.error
    assert not failed.ok
    shown = [repr(ok.request), ok.figures(), failed.error or "", repr(failed.request)]
    exp = wb.Experiment(wb.Prompt(user="{q}"), models=["creds:fake-model", "query:fake-model"],
                        cases=pd.DataFrame({"q": ["a"]}), runner=runner)
    yaml_path = wb.to_promptfoo(exp, tmp_path / "promptfooconfig.yaml")
    written = _written(path) + yaml_path.read_bytes()
    for secret in (URL_PASSWORD, URL_QUERY_KEY):
        assert all(secret not in text for text in shown), secret
        assert secret.encode() not in written, secret
    assert b"creds" in written  # the endpoint itself is still named
