"""Loopback fake of the OpenAI and Mistral *files* and *batch* APIs, mounted into ``FakeServer``.

The real SDKs talk to it over real sockets, so the wire formats are the real ones:

OpenAI (``openai`` SDK, ``base_url = server.openai_base_url``)::

    POST /v1/files                 multipart: file=<jsonl>, purpose=batch      -> file object
    GET  /v1/files/{id}/content    the file's bytes
    POST /v1/batches               {"input_file_id", "endpoint", "completion_window", "metadata"} -> batch
    GET  /v1/batches               list, newest first (``limit``, ``after`` cursor; ``has_more``)
    GET  /v1/batches/{id}          the batch (status, request_counts, output_file_id, error_file_id)
    POST /v1/batches/{id}/cancel   -> batch in "cancelling", later "cancelled"

    input line:  {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
    output line: {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}
    error line:  same shape with a non-200 response, or "response": null and "error": {"code", "message"}

Mistral (``mistralai`` SDK, ``server_url = server.mistral_base_url``; chosen by its User-Agent)::

    POST /v1/files                     multipart: file, purpose=batch (+ visibility) -> CreateFileResponse
    GET  /v1/files/{id}/content        application/octet-stream
    POST /v1/batch/jobs                {"input_files", "endpoint", "model", "metadata", "timeout_hours"} -> BatchJob
    GET  /v1/batch/jobs                list, newest first (``page``, ``page_size``; ``total``)
    GET  /v1/batch/jobs/{id}           BatchJob (QUEUED, RUNNING, SUCCESS, FAILED, TIMEOUT_EXCEEDED,
                                       CANCELLATION_REQUESTED, CANCELLED; total/completed/succeeded/failed_requests)
    POST /v1/batch/jobs/{id}/cancel    -> BatchJob in CANCELLATION_REQUESTED, later CANCELLED

    input line:  {"custom_id", "body": {...}}  (model optional in the body; the job names it)

Time is simulated from the creation time: ``validate_s`` in "validating"/QUEUED,
then ``process_s`` in progress (lines complete in file order, linearly in time),
then done. ``expire_after`` (seconds from creation) ends an unfinished batch as
expired with the lines done so far in its output file and the rest in its error
file (``batch_expired``). ``cancel`` stops it the same way after ``cancel_s``.
``line_fault(line) -> str | None`` makes a line fail (error file, status 400,
the string as the message): partial failure. Answers come from the server's
``responder`` exactly as online chat completions do (the same checks of tools,
tool_choice and response_format, the same tool calls in the provider's shape). ``forget(batch_id)`` makes
a batch unknown (404), as after deletion or with another account's ids.
``stats``: files uploaded, batches created (per provider), cancels.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakeserver import (
    Exchange,
    FakeServer,
    OpenAIFormat,
    plan_completion,
    validate_body,
    validate_features,
)

LineFault = Callable[[dict[str, Any]], "str | None"]

OPENAI_MAX_REQUESTS = 50_000
OPENAI_MAX_BYTES = 200 * 1024 * 1024
_MISTRAL_STATUS = {"validating": "QUEUED", "in_progress": "RUNNING", "finalizing": "RUNNING", "completed": "SUCCESS",
                   "failed": "FAILED", "expired": "TIMEOUT_EXCEEDED", "cancelling": "CANCELLATION_REQUESTED",
                   "cancelled": "CANCELLED"}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    provider: str


@dataclass
class FakeBatch:
    id: str
    provider: str
    input_file_id: str
    endpoint: str
    model: str | None
    metadata: dict[str, Any] | None
    created: float
    lines: list[dict[str, Any]]
    problems: list[dict[str, Any]]  # validation errors: the batch fails
    cancel_requested: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    final: str | None = None  # terminal status once decided
    done_lines: int = 0
    failed_lines: int = 0
    ok_lines: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``multipart/form-data`` -> {field: (filename or None, bytes)}."""
    boundary = None
    for part in content_type.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise ValueError("multipart body without a boundary")
    out: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        disposition = ""
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disposition = line
        params = {}
        for item in disposition.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            params[key.lower()] = value.strip('"')
        if "name" in params:
            out[params["name"]] = (params.get("filename"), data)
    return out


class BatchAPI:
    """The files and batch endpoints; ``BatchAPI.mount(server)`` hooks them into a :class:`FakeServer`."""

    def __init__(self, server: FakeServer, *, validate_s: float = 0.0, process_s: float = 0.2,
                 expire_after: float | None = None, cancel_s: float = 0.05, line_fault: LineFault | None = None,
                 max_requests: int = OPENAI_MAX_REQUESTS, max_bytes: int = OPENAI_MAX_BYTES) -> None:
        self.server = server
        self.validate_s, self.process_s = validate_s, process_s
        self.expire_after, self.cancel_s = expire_after, cancel_s
        self.line_fault = line_fault
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, FakeBatch] = {}
        self._counts: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._seq = 0

    @classmethod
    def mount(cls, server: FakeServer, **options: Any) -> BatchAPI:
        api = cls(server, **options)
        server.mounts.append(api.handle)
        return api

    # ---- test controls

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = dict(self._counts)
        return {"files_uploaded": c.get("files", 0), "batches_created": c.get("batches", 0),
                "openai_batches_created": c.get("batches:openai", 0),
                "mistral_batches_created": c.get("batches:mistral", 0), "cancels": c.get("cancels", 0),
                "downloads": c.get("downloads", 0), "lists": c.get("lists", 0)}

    def forget(self, batch_id: str | None = None) -> None:
        """Make one batch (or all) unknown to the server: later requests for it get 404."""
        with self._lock:
            if batch_id is None:
                self.batches.clear()
            else:
                self.batches.pop(batch_id, None)

    def finish_all(self) -> None:
        """Let every batch reach the end of its processing time now (as if time had passed)."""
        with self._lock:
            for batch in self.batches.values():
                batch.created -= self.validate_s + self.process_s + 1.0

    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.batches[batch_id].lines)

    # ---- routing

    async def handle(self, server: FakeServer, exchange: Exchange, fmt: OpenAIFormat, route: str) -> bool:
        """Answer ``route`` if it is a files or batch endpoint; False leaves it to the server."""
        parts = route.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "v1" or parts[1] not in ("files", "batches", "batch"):
            return False
        method = exchange.request.method
        if not server._authorized(exchange.request):
            server._count("unauthorized")
            await exchange.send_json(401, fmt.auth_error(exchange.request.headers.get("authorization")))
            return True
        mistral = fmt.name == "mistral"
        try:
            if parts[1] == "files" and len(parts) == 2 and method == "POST":
                await self._upload(exchange, fmt)
            elif parts[1] == "files" and len(parts) == 4 and parts[3] == "content" and method == "GET":
                await self._content(exchange, fmt, parts[2])
            elif parts[1] == "files" and len(parts) == 3 and method == "GET":
                await self._file_info(exchange, fmt, parts[2])
            elif (not mistral and parts[1] == "batches" and len(parts) == 2 and method == "POST"
                  or mistral and parts[1:3] == ["batch", "jobs"] and len(parts) == 3 and method == "POST"):
                await self._create(exchange, fmt, exchange.request.json())
            elif (not mistral and parts[1] == "batches" and len(parts) == 2 and method == "GET"
                  or mistral and parts[1:3] == ["batch", "jobs"] and len(parts) == 3 and method == "GET"):
                await self._list(exchange, fmt)
            elif not mistral and parts[1] == "batches" and len(parts) == 3 and method == "GET":
                await self._retrieve(exchange, fmt, parts[2])
            elif mistral and parts[1:3] == ["batch", "jobs"] and len(parts) == 4 and method == "GET":
                await self._retrieve(exchange, fmt, parts[3])
            elif (not mistral and parts[1] == "batches" and len(parts) == 4 and parts[3] == "cancel"
                  and method == "POST"):
                await self._cancel(exchange, fmt, parts[2])
            elif mistral and parts[1:3] == ["batch", "jobs"] and len(parts) == 5 and parts[4] == "cancel" \
                    and method == "POST":
                await self._cancel(exchange, fmt, parts[3])
            else:
                return False
        except _HTTPError as exc:
            await exchange.send_json(exc.status, fmt.bad_request(exc.message, exc.status))
        server._count("ok")
        return True

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{prefix}{self._seq:024x}"

    # ---- files

    async def _upload(self, exchange: Exchange, fmt: OpenAIFormat) -> None:
        request = exchange.request
        try:
            form = parse_multipart(request.headers.get("content-type", ""), request.body)
        except ValueError as exc:
            raise _HTTPError(400, str(exc)) from None
        if "file" not in form:
            raise _HTTPError(400, "Missing required parameter: 'file'.")
        purpose = (form.get("purpose") or (None, b""))[1].decode()
        if purpose != "batch":
            raise _HTTPError(400, f"Invalid value for 'purpose': {purpose!r} (this fake accepts 'batch').")
        filename, data = form["file"]
        if fmt.name == "openai" and len(data) > self.max_bytes:
            raise _HTTPError(400, f"File is too large ({len(data)} bytes); batch input files are limited to "
                                  f"{self.max_bytes} bytes.")
        file = StoredFile(self._next_id("file-" if fmt.name == "openai" else ""), filename or "upload.jsonl",
                          purpose, data, int(time.time()), fmt.name)
        if fmt.name == "mistral":  # Mistral file ids are UUIDs
            file.id = _uuid(file.id)
        with self._lock:
            self.files[file.id] = file
            self._counts["files"] += 1
        await exchange.send_json(200, self._file_object(file, fmt))

    def _file_object(self, file: StoredFile, fmt: OpenAIFormat) -> dict[str, Any]:
        if fmt.name == "mistral":
            sample = {"batch": "batch_request", "batch_result": "batch_result", "batch_error": "batch_error"}
            return {"id": file.id, "object": "file", "bytes": len(file.data), "created_at": file.created_at,
                    "filename": file.filename, "purpose": "batch",
                    "sample_type": sample.get(file.purpose, "batch_result"),
                    "source": "upload" if file.purpose == "batch" else "mistral",
                    "num_lines": file.data.count(b"\n"), "mimetype": "application/jsonl", "visibility": "workspace"}
        return {"id": file.id, "object": "file", "bytes": len(file.data), "created_at": file.created_at,
                "filename": file.filename, "purpose": file.purpose, "status": "processed", "expires_at": None,
                "status_details": None}

    async def _file_info(self, exchange: Exchange, fmt: OpenAIFormat, file_id: str) -> None:
        file = self.files.get(file_id)
        if file is None:
            raise _HTTPError(404, f"No such File object: {file_id}")
        await exchange.send_json(200, self._file_object(file, fmt))

    async def _content(self, exchange: Exchange, fmt: OpenAIFormat, file_id: str) -> None:
        file = self.files.get(file_id)
        if file is None:
            raise _HTTPError(404, f"No such File object: {file_id}")
        with self._lock:
            self._counts["downloads"] += 1
        await exchange.send(200, file.data, "application/octet-stream")

    # ---- batches

    async def _create(self, exchange: Exchange, fmt: OpenAIFormat, body: Any) -> None:
        if not isinstance(body, dict):
            raise _HTTPError(400, "The request body must be a JSON object.")
        mistral = fmt.name == "mistral"
        if mistral:
            file_ids = body.get("input_files") or []
            if len(file_ids) != 1:
                raise _HTTPError(400, "This fake takes exactly one input file per batch job.")
            file_id = file_ids[0]
            model = body.get("model")
            if not model:
                raise _HTTPError(400, "A batch job needs a model (or an agent_id).")
        else:
            file_id = body.get("input_file_id")
            model = None
            if body.get("completion_window") != "24h":
                raise _HTTPError(400, "Invalid 'completion_window': only '24h' is supported.")
        endpoint = body.get("endpoint")
        if endpoint != "/v1/chat/completions":
            raise _HTTPError(400, f"Invalid 'endpoint' {endpoint!r} (this fake serves /v1/chat/completions).")
        file = self.files.get(file_id or "")
        if file is None or file.purpose != "batch":
            raise _HTTPError(400 if not mistral else 404, f"Invalid 'input_file_id': {file_id!r} is not a batch file.")
        lines, problems, models = [], [], set()
        seen: set[str] = set()
        for number, raw in enumerate(file.data.decode("utf-8").splitlines(), 1):
            if not raw.strip():
                problems.append({"code": "invalid_json_line", "line": number, "message": "Empty line."})
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                problems.append({"code": "invalid_json_line", "line": number, "message": "Line is not valid JSON."})
                continue
            cid = line.get("custom_id") if isinstance(line, dict) else None
            req = line.get("body") if isinstance(line, dict) else None
            if not isinstance(cid, str) or not isinstance(req, dict):
                problems.append({"code": "invalid_request", "line": number,
                                 "message": "Each line needs a string custom_id and an object body."})
                continue
            if not mistral and (line.get("method") != "POST" or line.get("url") != endpoint):
                problems.append({"code": "invalid_url", "line": number,
                                 "message": f"method must be POST and url must be {endpoint}."})
                continue
            if cid in seen:
                problems.append({"code": "duplicate_custom_id", "line": number,
                                 "message": f"The custom_id {cid!r} is used more than once."})
                continue
            seen.add(cid)
            models.add(req.get("model") or model)
            lines.append(line)
        if not mistral and len(models) > 1:
            problems.append({"code": "mismatched_model", "line": None,
                             "message": "Every request in a batch must use the same model; "
                                        f"got {sorted(map(str, models))}."})
        if not mistral and len(lines) > self.max_requests:
            problems.append({"code": "too_many_requests", "line": None,
                             "message": f"A batch holds at most {self.max_requests} requests; got {len(lines)}."})
        batch = FakeBatch(self._next_id("batch_" if not mistral else ""), fmt.name, file.id, endpoint,
                          model or (next(iter(models)) if len(models) == 1 else None), body.get("metadata"),
                          time.time(), lines, problems)
        if mistral:
            batch.id = _uuid(batch.id)
        with self._lock:
            self.batches[batch.id] = batch
            self._counts["batches"] += 1
            self._counts[f"batches:{fmt.name}"] += 1
        await exchange.send_json(200, self._describe(batch, fmt))

    def _get(self, batch_id: str) -> FakeBatch:
        with self._lock:
            batch = self.batches.get(batch_id)
        if batch is None:
            raise _HTTPError(404, f"No batch found with id '{batch_id}'.")
        return batch

    async def _list(self, exchange: Exchange, fmt: OpenAIFormat) -> None:
        """Newest first. OpenAI: ``?limit=&after=`` cursor pages; Mistral: ``?page=&page_size=`` with a total."""
        from urllib.parse import parse_qs

        query = {k: v[-1] for k, v in parse_qs(exchange.request.target.partition("?")[2]).items()}
        with self._lock:
            mine = sorted((b for b in self.batches.values() if b.provider == fmt.name),
                          key=lambda b: (b.created, b.id), reverse=True)
        with self._lock:
            self._counts["lists"] += 1
        if fmt.name == "mistral":
            page, size = int(query.get("page", 0)), int(query.get("page_size", 100))
            chunk = mine[page * size:(page + 1) * size]
            await exchange.send_json(200, {"object": "list", "total": len(mine),
                                           "data": [self._describe(b, fmt) for b in chunk]})
            return
        limit = int(query.get("limit", 20))
        start = 0
        if "after" in query:
            ids = [b.id for b in mine]
            start = ids.index(query["after"]) + 1 if query["after"] in ids else len(ids)
        chunk = mine[start:start + limit]
        data = [self._describe(b, fmt) for b in chunk]
        await exchange.send_json(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                       "last_id": data[-1]["id"] if data else None,
                                       "has_more": start + limit < len(mine)})

    async def _retrieve(self, exchange: Exchange, fmt: OpenAIFormat, batch_id: str) -> None:
        await exchange.send_json(200, self._describe(self._get(batch_id), fmt))

    async def _cancel(self, exchange: Exchange, fmt: OpenAIFormat, batch_id: str) -> None:
        batch = self._get(batch_id)
        with self._lock:
            status = self._status(batch, time.time())[0]
            if status in ("completed", "failed", "expired", "cancelled"):
                raise _HTTPError(409 if fmt.name == "openai" else 400,
                                 f"Cannot cancel a batch with status {status!r}.")
            if batch.cancel_requested is None:
                batch.cancel_requested = time.time()
                self._counts["cancels"] += 1
        await exchange.send_json(200, self._describe(batch, fmt))

    # ---- simulated progress

    def _progress(self, batch: FakeBatch, at: float) -> int:
        """Lines done by time ``at`` (file order, linear over ``process_s``)."""
        running = at - batch.created - self.validate_s
        if running <= 0:
            return 0
        if self.process_s <= 0 or running >= self.process_s:
            return len(batch.lines)
        return min(len(batch.lines), int(len(batch.lines) * running / self.process_s))

    def _status(self, batch: FakeBatch, now: float) -> tuple[str, int]:
        """(OpenAI-style status, lines done); finalises output files when the batch ends."""
        with self._lock:
            if batch.final is not None:
                return batch.final, batch.done_lines
            elapsed = now - batch.created
            if batch.problems:
                if elapsed >= self.validate_s:
                    self._finalise(batch, "failed", 0)
                    return "failed", 0
                return "validating", 0
            if batch.cancel_requested is not None:
                done = self._progress(batch, batch.cancel_requested)
                if now - batch.cancel_requested >= self.cancel_s:
                    self._finalise(batch, "cancelled", done)
                    return "cancelled", done
                return "cancelling", done
            if self.expire_after is not None and elapsed >= self.expire_after \
                    and self._progress(batch, batch.created + self.expire_after) < len(batch.lines):
                done = self._progress(batch, batch.created + self.expire_after)
                self._finalise(batch, "expired", done)
                return "expired", done
            if elapsed < self.validate_s:
                return "validating", 0
            done = self._progress(batch, now)
            if done < len(batch.lines):
                return "in_progress", done
            self._finalise(batch, "completed", done)
            return "completed", done

    def _finalise(self, batch: FakeBatch, status: str, done: int) -> None:
        """Answer the first ``done`` lines, write output and error files, fix the terminal status."""
        fmt = self.server_format(batch.provider)
        outputs, errors = [], []
        for line in batch.lines[:done]:
            out = self._answer(batch, line, fmt)
            (outputs if out["response"] and out["response"]["status_code"] == 200 else errors).append(out)
        reason = {"expired": ("batch_expired", ("This request could not be executed before the completion window "
                                                "expired.")),
                  "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled.")}
        if status in reason:
            code, message = reason[status]
            for line in batch.lines[done:]:
                errors.append({"id": f"batch_req_{self._next_id('')}", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": code, "message": message}})
        if outputs:
            batch.output_file_id = self._store_result(batch, outputs, "batch_result")
        if errors:
            batch.error_file_id = self._store_result(batch, errors, "batch_error")
        batch.done_lines = done
        batch.failed_lines = len(errors)
        batch.ok_lines = len(outputs)
        batch.final = status

    def _answer(self, batch: FakeBatch, line: dict[str, Any], fmt: OpenAIFormat) -> dict[str, Any]:
        body = dict(line["body"])
        if batch.model and not body.get("model"):
            body["model"] = batch.model
        request_id = f"req_{self._next_id('')}"
        fault = self.line_fault(line) if self.line_fault else None
        # checked and answered as the online chat endpoint does (tools, tool_choice, response_format, tool calls)
        problem = fault or validate_body(body) or validate_features(body, fmt.name)
        if problem is None:
            try:
                completion = plan_completion(body, self.server.responder(body), fmt.completion_id(self._seq_next()),
                                             fmt.name)
                response = {"status_code": 200, "request_id": request_id, "body": fmt.completion(completion)}
            except Exception as exc:  # noqa: BLE001 - a broken test responder: a 500 line, not a hung batch
                response = {"status_code": 500, "request_id": request_id,
                            "body": fmt.error(500, f"responder failed: {exc!r}", "server_error", None)}
        else:
            response = {"status_code": 400, "request_id": request_id, "body": fmt.bad_request(problem)}
        if fmt.name == "mistral":
            response.pop("request_id")
        return {"id": f"batch_req_{self._next_id('')}", "custom_id": line["custom_id"], "response": response,
                "error": None}

    def _seq_next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _store_result(self, batch: FakeBatch, lines: list[dict[str, Any]], purpose: str) -> str:
        data = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines).encode()
        file = StoredFile(self._next_id("file-" if batch.provider == "openai" else ""), f"{batch.id}_{purpose}.jsonl",
                          purpose if batch.provider == "mistral" else "batch_output", data, int(time.time()),
                          batch.provider)
        if batch.provider == "mistral":
            file.id = _uuid(file.id)
        self.files[file.id] = file
        return file.id

    @staticmethod
    def server_format(provider: str) -> OpenAIFormat:
        from tests.fakeserver import _FORMATS

        return _FORMATS[provider]

    def _describe(self, batch: FakeBatch, fmt: OpenAIFormat) -> dict[str, Any]:
        status, done = self._status(batch, time.time())
        total = len(batch.lines)
        failed = batch.failed_lines if batch.final else 0
        ok = batch.ok_lines if batch.final else done
        created = int(batch.created)
        if batch.provider == "mistral":
            return {"id": batch.id, "object": "batch", "input_files": [batch.input_file_id], "metadata": batch.metadata,
                    "endpoint": batch.endpoint, "model": batch.model, "agent_id": None,
                    "output_file": batch.output_file_id, "error_file": batch.error_file_id,
                    "errors": [{"message": p["message"], "count": 1} for p in batch.problems],
                    "outputs": None, "status": _MISTRAL_STATUS[status], "created_at": created,
                    "total_requests": total, "completed_requests": ok + failed,
                    "succeeded_requests": ok, "failed_requests": failed,
                    "started_at": created if status != "validating" else None,
                    "completed_at": int(time.time()) if batch.final else None}
        data = {
            "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "errors": None,
            "input_file_id": batch.input_file_id, "completion_window": "24h", "status": status,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
            "created_at": created, "in_progress_at": created if status != "validating" else None,
            "expires_at": created + 86400, "finalizing_at": None,
            "completed_at": int(time.time()) if status == "completed" else None,
            "failed_at": int(time.time()) if status == "failed" else None,
            "expired_at": int(time.time()) if status == "expired" else None,
            "cancelling_at": int(batch.cancel_requested) if batch.cancel_requested else None,
            "cancelled_at": int(time.time()) if status == "cancelled" else None,
            "request_counts": {"total": total, "completed": ok, "failed": failed},
            "metadata": batch.metadata, "model": batch.model,
        }
        if batch.problems:
            data["errors"] = {"object": "list", "data": [{"param": None, **p} for p in batch.problems]}
        return data


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _uuid(seq_id: str) -> str:
    """A UUID-shaped id from a 24-hex sequence id (Mistral's ids are UUIDs)."""
    h = seq_id[-24:].rjust(32, "0")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"



def main(argv: list[str] | None = None) -> None:
    """``python -m tests.fakebatch``: the chat fake plus these endpoints in a process of its own.

    Prints the URL as the first stdout line; stops at stdin EOF (or SIGTERM) and prints the batch stats as JSON.
    """
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.fakebatch")
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--validate-s", type=float, default=0.0)
    parser.add_argument("--process-s", type=float, default=0.2)
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    with FakeServer(api_key=args.api_key or None) as server:
        api = BatchAPI.mount(server, validate_s=args.validate_s, process_s=args.process_s)
        print(server.url, flush=True)
        while not done.wait(0.5):
            pass
        print(json.dumps({"stats": api.stats, "server": server.stats}), flush=True)


if __name__ == "__main__":
    main()
