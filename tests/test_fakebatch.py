"""The fake files and batch endpoints speak the real wire formats: the real openai and mistralai SDKs use them."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import wait_until
from tests.fakebatch import BatchAPI
from tests.fakeserver import FakeServer


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


def _openai(server):
    import openai

    return openai.OpenAI(base_url=server.openai_base_url, api_key="test-key", max_retries=0)


def _mistral(server):
    from mistralai.client import Mistral

    return Mistral(api_key="test-key", server_url=server.mistral_base_url)


def _jsonl(lines) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def _openai_lines(n, model="gpt-4o-mini"):
    return [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}]}} for i in range(n)]


def test_openai_batch_round_trip_with_partial_failure(server):
    api = BatchAPI.mount(server, process_s=0.3, line_fault=lambda line: "nope" if line["custom_id"] == "c1" else None)
    client = _openai(server)
    f = client.files.create(file=("in.jsonl", _jsonl(_openai_lines(3))), purpose="batch")
    assert f.purpose == "batch" and f.bytes > 0
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert b.status in ("validating", "in_progress") and b.request_counts.total == 3
    assert wait_until(lambda: client.batches.retrieve(b.id).status == "completed", 30)
    b = client.batches.retrieve(b.id)
    assert (b.request_counts.completed, b.request_counts.failed) == (2, 1)
    out = [json.loads(x) for x in client.files.content(b.output_file_id).text.splitlines()]
    err = [json.loads(x) for x in client.files.content(b.error_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["c0", "c2"]
    assert out[0]["response"]["status_code"] == 200 and out[0]["response"]["request_id"]
    assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: hello 0"
    assert out[0]["error"] is None and set(out[0]) == {"id", "custom_id", "response", "error"}
    assert err[0]["custom_id"] == "c1" and err[0]["response"]["status_code"] == 400
    assert err[0]["response"]["body"]["error"]["message"] == "nope"
    assert api.stats["openai_batches_created"] == 1 and api.stats["files_uploaded"] == 1


def test_openai_rejects_mixed_models_and_bad_lines_as_a_failed_batch(server):
    BatchAPI.mount(server, process_s=0.0)
    client = _openai(server)
    lines = _openai_lines(2)
    lines[1]["body"]["model"] = "gpt-4o"
    f = client.files.create(file=("in.jsonl", _jsonl(lines)), purpose="batch")
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    b = client.batches.retrieve(b.id)
    assert b.status == "failed" and "same model" in b.errors.data[0].message


def test_expiry_keeps_what_was_done_and_reports_the_rest(server):
    BatchAPI.mount(server, process_s=10.0, expire_after=0.2)
    client = _openai(server)
    f = client.files.create(file=("in.jsonl", _jsonl(_openai_lines(50))), purpose="batch")
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert wait_until(lambda: client.batches.retrieve(b.id).status == "expired", 30)
    b = client.batches.retrieve(b.id)
    err = [json.loads(x) for x in client.files.content(b.error_file_id).text.splitlines()]
    assert err and all(e["error"]["code"] == "batch_expired" and e["response"] is None for e in err)
    done = b.request_counts.completed
    assert done + len(err) == 50 and done < 50


def test_mistral_jobs_cancel_and_forget(server):
    api = BatchAPI.mount(server, process_s=10.0)
    client = _mistral(server)
    lines = [{"custom_id": str(i), "body": {"messages": [{"role": "user", "content": f"hi {i}"}], "max_tokens": 3}}
             for i in range(4)]
    up = client.files.upload(file={"file_name": "in.jsonl", "content": _jsonl(lines)}, purpose="batch")
    assert up.purpose == "batch" and up.num_lines == 4
    job = client.batch.jobs.create(input_files=[up.id], model="mistral-small-latest", endpoint="/v1/chat/completions")
    assert job.status in ("QUEUED", "RUNNING") and job.total_requests == 4
    assert client.batch.jobs.cancel(job_id=job.id).status == "CANCELLATION_REQUESTED"
    assert wait_until(lambda: client.batch.jobs.get(job_id=job.id).status == "CANCELLED", 30)
    job = client.batch.jobs.get(job_id=job.id)
    errors = client.files.download(file_id=job.error_file).read().decode().splitlines()
    assert len(errors) + job.succeeded_requests == 4
    assert api.stats["mistral_batches_created"] == 1 and api.stats["cancels"] == 1
    api.forget(job.id)
    with pytest.raises(Exception) as info:
        client.batch.jobs.get(job_id=job.id)
    assert getattr(info.value, "status_code", None) == 404


def test_mistral_answers_use_the_job_model(server):
    BatchAPI.mount(server, process_s=0.0)
    client = _mistral(server)
    lines = [{"custom_id": "a", "body": {"messages": [{"role": "user", "content": "x"}]}}]
    up = client.files.upload(file={"file_name": "in.jsonl", "content": _jsonl(lines)}, purpose="batch")
    job = client.batch.jobs.create(input_files=[up.id], model="mistral-small-latest", endpoint="/v1/chat/completions")
    time.sleep(0.01)
    job = client.batch.jobs.get(job_id=job.id)
    assert job.status == "SUCCESS" and job.succeeded_requests == 1
    out = json.loads(client.files.download(file_id=job.output_file).read())
    assert out["custom_id"] == "a" and out["response"]["body"]["model"] == "mistral-small-latest"
