"""Secret hygiene end to end: a recognisable fake key is planted, used for calls (good and failing),
an experiment, its exports and a widget, and then searched for in everything the workbench wrote.

The key has no known key shape, so only the workbench's own bookkeeping (every key value read is
remembered and redacted) can keep it out; the saved-notebook side is in test_widgets_notebook.py.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench as wb
from tests.fakeserver import FakeServer

KEY = "wbtest-PLANTED-7f3a9c2e1d5b"


@pytest.fixture
def keyed_server(monkeypatch, fresh_providers):
    with FakeServer(api_key=KEY) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)  # from the environment, as most users set it
        yield server


def _everything_under(path: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in path.rglob("*") if p.is_file())


def test_planted_key_appears_nowhere(keyed_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # the SDKs' and httpx2's debug logs included
    out = tmp_path / "out"
    out.mkdir()
    runner = wb.Runner(log=out / "runs.sqlite", progress=False, max_retries=1, max_wait=0.01)
    texts: list[str] = []

    ok = wb.complete("openai:gpt-4o-mini", "hello", runner=runner)
    texts += [repr(ok), ok._repr_html_(), str(ok.request), ok.figures()]
    # a user pastes the key into a prompt; the answer (an echo) repeats it
    leaky = wb.complete("openai:gpt-4o-mini", f"my key is {KEY}", runner=runner)
    texts += [repr(leaky), str(leaky.request)]
    # failing calls: server errors and a rejected key
    keyed_server.script(["500", "500"])
    failed = wb.complete("openai:gpt-4o-mini", "fail", runner=runner, raise_errors=False)
    texts += [repr(failed), failed.error or ""]
    with pytest.raises(wb.AuthenticationError) as rejected:
        keyed_server.api_key = "a-different-key-0000"
        wb.complete("openai:gpt-4o-mini", "rejected", runner=runner)
    texts.append(str(rejected.value))
    keyed_server.api_key = KEY

    # an experiment and every export of it
    cases = pd.DataFrame({"q": ["one", f"two {KEY}"], "expected": ["Echo: one", "x"]})
    exp = wb.Experiment(wb.Prompt(user="{q}"), models="openai:gpt-4o-mini", cases=cases,
                        scorers=[wb.scorers.exact_match()], runner=runner, name="secrets")
    results = exp.run(progress=False, verbose=False)
    texts += [repr(exp), repr(exp.plan()), results.to_string()]
    wb.results_to_csv(results, out / "results.csv")
    wb.results_to_json(results, out / "results.json")
    wb.report_html(results, out / "report.html")
    wb.to_promptfoo(exp, out / "promptfooconfig.yaml")

    # a widget used the key too
    pg = wb.Playground("Say {x}", "openai:gpt-4o-mini", runner=runner, x="hi")
    pg.state.run(timeout=30)
    texts += [str(pg.get_state()), str(pg._repr_mimebundle_())]
    texts += [str(w.get_state()) for w in _descendants(pg)]

    runner.run_log.close()
    texts.append(caplog.text)
    written = _everything_under(out)  # the SQLite file (and WAL), CSV, JSON, HTML report, YAML
    assert ok.ok and leaky.ok and not failed.ok and len(results) == 2
    assert leaky.text == "Echo: my key is ***"
    assert KEY not in written
    assert not [t for t in texts if KEY in t]
    assert keyed_server.requests[0]["authorization"] == f"Bearer {KEY}"  # the key really was used


def _descendants(widget) -> list:
    found, todo = [], [widget]
    while todo:
        w = todo.pop()
        found.append(w)
        todo += [c for c in getattr(w, "children", ()) if hasattr(c, "get_state")]
    return found


@pytest.mark.parametrize("pieces", [["my key is ", KEY, " ok"], ["my key is wbt", "est-PLANTED-7f3a", "9c2e1d5b ok"],
                                    ["my key is " + KEY[:-1], KEY[-1:]]])
def test_a_key_split_across_streamed_pieces_is_never_shown(pieces):
    from workbench._keys import StreamRedactor, _remember

    _remember(KEY)
    redactor = StreamRedactor()
    shown = [redactor.feed(piece) for piece in pieces] + [redactor.flush()]
    assert "".join(shown) == "".join(pieces).replace(KEY, "***")
    assert not any(KEY[:8] in s for s in shown)


SHAPED = "sk-proj-" + "Ab3" * 9  # shaped like an OpenAI key, never registered


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
       st.sampled_from(["Omar lives in Tunis. ", "key: ", "ask-me ", "s", "sk", "wbt", ""]))
def test_at_no_point_of_a_stream_is_any_part_of_a_key_shown(sizes, lead):
    """Whatever the split, what the reader has seen so far is always the start of the redacted answer."""
    from workbench._keys import StreamRedactor, _remember, redact

    _remember(KEY)
    full = f"{lead}{KEY} then {SHAPED}, and again:{KEY}. done sk"
    final = redact(full)
    assert KEY not in final and SHAPED not in final
    pieces, i = [], 0
    for size in sizes * (len(full) // max(1, sum(sizes)) + 1):
        if i >= len(full):
            break
        pieces.append(full[i:i + size])
        i += size
    redactor, seen = StreamRedactor(), ""
    for piece in pieces:
        seen += redactor.feed(piece)
        assert final.startswith(seen), (pieces, seen)
    assert seen + redactor.flush() == final


def test_ordinary_text_streams_without_delay(monkeypatch):
    """Only what could grow into a key is held back: a one-word answer still arrives in pieces."""
    from workbench import _keys
    from workbench._keys import StreamRedactor

    monkeypatch.setattr(_keys, "_known_secrets", {KEY})  # other tests' keys would hold back other letters
    redactor = StreamRedactor()
    assert [redactor.feed(p) for p in ["Tun", "is", ", in Tun", "isia"]] == ["Tun", "is", ", in Tun", "isia"]
    assert redactor.feed(" s") == " " and redactor.feed("o") == "so"  # "s" might have become "sk-..."
    assert redactor.feed(" w") == " " and redactor.feed("ord") == "word"  # "w" might have begun the known key


def test_streamed_answers_never_show_a_key(keyed_server, tmp_path):
    runner = wb.Runner(log=tmp_path / "runs.sqlite", progress=False)
    chunks = list(wb.stream("openai:gpt-4o-mini", f"repeat {KEY} please", runner=runner))
    assert "".join(chunks) == "Echo: repeat *** please" and not any(KEY[:8] in c for c in chunks)


def test_async_path_and_errors_are_redacted_too(keyed_server, tmp_path):
    runner = wb.Runner(log=tmp_path / "runs.sqlite", progress=False)
    keyed_server.script(["400"])
    r = asyncio.run(wb.acomplete("openai:gpt-4o-mini", f"bad {KEY}", runner=runner, raise_errors=False))
    assert r.error_type == "BadRequestError" and KEY not in repr(r) and KEY not in str(r.request)
