"""Loopback fake of the Hugging Face Hub's file download, for ``huggingface_hub.hf_hub_download``.

Why it exists: ``wb.add_local_model`` downloads through the real ``huggingface_hub``
(pointed here with ``HF_ENDPOINT``), and its download, cache, resume and checksum
paths must run over a real socket without the network. It speaks what
``huggingface_hub`` (file_download.py: ``get_hf_file_metadata`` then ``http_get``)
actually uses, the way the real hub serves a Git-LFS file:

* ``HEAD /{repo}/resolve/{revision}/{filename}`` answers ``302`` to a "CDN" on a
  second port (another origin, so the client stops there and reads the metadata
  from this response, as with the hub's CDN) with ``X-Repo-Commit``,
  ``X-Linked-Etag`` (the LFS sha256), ``X-Linked-Size``, ``ETag`` and ``Location``.
  ``GET`` on the same path redirects the same way.
* ``GET /cdn/{sha256}`` on the CDN port serves the bytes, with ``Content-Length``,
  ``Accept-Ranges: bytes`` and ``Range: bytes=N-`` answered by ``206`` and
  ``Content-Range``. ``HEAD`` there gives the headers alone.
* An unknown repo or file: ``404`` with ``X-Error-Code: RepoNotFound`` / ``EntryNotFound``.

Faults for the next GETs of the file's bytes (``cut_next(n, at=bytes)``): the body
stops after ``at`` bytes and the connection closes, as an interrupted download does.
``corrupt=True`` serves bytes with one byte flipped under the honest sha256 (a
damaged file). Every request is recorded in ``requests`` (method, path, Range).

    with FakeHub({"org/repo-GGUF": {"model.gguf": path}}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["FakeHub", "HubRequest"]

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class HubRequest:
    method: str
    path: str
    range: str | None
    port: int


@dataclass
class _File:
    data: bytes
    sha256: str


@dataclass
class FakeHub:
    """Serves ``{repo_id: {filename: path_or_bytes}}`` on loopback (the hub port and a CDN port)."""

    repos: dict[str, dict[str, Any]]
    corrupt: bool = False
    requests: list[HubRequest] = field(default_factory=list)
    bytes_served: int = 0
    _cuts: list[int] = field(default_factory=list)
    _files: dict[str, dict[str, _File]] = field(default_factory=dict)
    _blobs: dict[str, _File] = field(default_factory=dict)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for repo, files in self.repos.items():
            for name, source in files.items():
                data = source if isinstance(source, bytes) else Path(source).read_bytes()
                f = _File(data, hashlib.sha256(data).hexdigest())
                self._files.setdefault(repo, {})[name] = f
                self._blobs[f.sha256] = f

    # --- control ----------------------------------------------------------------------------------------
    def cut_next(self, count: int = 1, *, at: int) -> None:
        """The next ``count`` byte downloads stop after ``at`` bytes (the connection is closed)."""
        with self._lock:
            self._cuts.extend([at] * count)

    def file_requests(self) -> list[HubRequest]:
        """The GETs of file bytes (on the CDN), in order."""
        return [r for r in self.requests if r.method == "GET" and r.path.startswith("/cdn/")]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def sha256(self, repo: str, filename: str) -> str:
        return self._files[repo][filename].sha256

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            owner = hub

        for _ in range(2):
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> None:
        self.owner.requests.append(HubRequest(self.command, self.path.split("?")[0], self.headers.get("Range"),
                                              self.server.server_address[1]))

    def do_HEAD(self) -> None:
        self._record()
        self._route(body=False)

    def do_GET(self) -> None:
        self._record()
        self._route(body=True)

    def _route(self, *, body: bool) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/cdn/"):
            self._blob(path[len("/cdn/"):], body=body)
            return
        repo, sep, rest = path.lstrip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        files = self.owner._files.get(repo)
        if not sep or files is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        f = files.get(filename)
        if f is None:
            self._error(404, "EntryNotFound", "Entry not found", commit=True)
            return
        self.send_response(302)
        self.send_header("Location", f"{self.owner.cdn_url}/cdn/{f.sha256}")
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("X-Linked-Etag", f'"{f.sha256}"')
        self.send_header("X-Linked-Size", str(len(f.data)))
        self.send_header("ETag", '"a-git-blob-etag"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: int, code: str, message: str, *, commit: bool = False) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _blob(self, sha: str, *, body: bool) -> None:
        f = self.owner._blobs.get(sha)
        if f is None:
            self._error(404, "EntryNotFound", "Blob not found")
            return
        data = f.data
        if self.owner.corrupt:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng[6:].endswith("-"):
            start = int(rng[6:-1])
        part = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{f.sha256}"')
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        with self.owner._lock:
            cut = self.owner._cuts.pop(0) if self.owner._cuts else None
        if cut is not None:
            part = part[:cut]
        view = memoryview(part)
        for i in range(0, len(view), 1 << 20):
            self.wfile.write(view[i:i + (1 << 20)])
            with self.owner._lock:
                self.owner.bytes_served += len(view[i:i + (1 << 20)])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True  # the body stops short: the client sees the connection close mid-body
