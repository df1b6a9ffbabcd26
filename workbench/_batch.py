"""Experiments through the providers' batch APIs (OpenAI and Mistral): half price, within a day.

``exp.submit()`` writes the experiment's missing cells as JSONL, one line per
call with the exact body the online path sends (``provider.batch_body``: parameters, tools,
tool_choice and response_format) and the
cell key as ``custom_id``; uploads it, creates the batch(es) and records each
batch, its state and the cells it holds in the run log (``batches`` and
``batch_cells``, migration ``007_batches``) before returning. Collecting
downloads the output and error files and writes one ``calls`` row per cell,
in the same format as an online call (so the cache, resume, statistics and
exports see no difference), priced at the batch price.

The run log is the source of truth: a new :class:`~workbench.Experiment` with
the same definition (so the same experiment id) finds its batches there, so a
kernel restart or a SIGKILL between submit and collect never submits a cell
twice. Cells already answered (online, from the cache or by an earlier batch)
are never submitted; cells left unanswered by an expired, cancelled or failed
batch are submitted again only when asked (``submit(resubmit=True)``).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._errors import (
    AuthenticationError,
    BatchError,
    BatchKeyChangedError,
    BatchNotFoundError,
    BatchUnsupportedError,
    BudgetExceededError,
    ProviderError,
    RunLogError,
    WorkbenchError,
)
from ._keys import redact, redact_obj
from ._log import row_to_response
from ._portal import run_sync
from ._pricing import batch_price_of, cost_of, estimate_batch_cost, price_of, request_tokens
from ._tools import attach_answer_extras, call_options, raw_tool_calls
from ._types import Request, Response, split_model
from .providers import resolve
from .providers._base import import_sdk
from .providers._batching import SupportsBatch, batch_api_of
from .providers._mistral import _mistral_client_class
from .providers._openai import CompatibleProvider
from .providers._wire import usage_of

if TYPE_CHECKING:
    import pandas as pd

    from ._experiment import Cell, Experiment
    from ._log import RunLog
    from .providers import Provider

__all__ = [
    "STATES",
    "TERMINAL",
    "BatchJob",
    "BatchPlan",
    "plan_batch",
    "progress_text",
    "run_batch",
    "arun_batch",
    "submit",
]

#: Normalised batch states (the provider's own status is kept beside it).
STATES = ("validating", "in_progress", "finalizing", "done", "failed", "expired", "cancelling", "cancelled")
TERMINAL = frozenset({"done", "failed", "expired", "cancelled"})
_OPENAI_STATES = {"validating": "validating", "in_progress": "in_progress", "finalizing": "finalizing",
                  "completed": "done", "failed": "failed", "expired": "expired", "cancelling": "cancelling",
                  "cancelled": "cancelled"}
_MISTRAL_STATES = {"QUEUED": "validating", "RUNNING": "in_progress", "SUCCESS": "done", "FAILED": "failed",
                   "TIMEOUT_EXCEEDED": "expired", "CANCELLATION_REQUESTED": "cancelling", "CANCELLED": "cancelled"}
ENDPOINT = "/v1/chat/completions"
#: Seconds between status polls while waiting: starts at the first value, grows to the second.
POLL_S = (1.0, 30.0)
#: A submission interrupted between asking for the batch and logging its id is looked up by its token
#: in the provider's batch list; one the provider does not list is given up after this many seconds
#: (until then its cells count as pending, so a submission still in flight elsewhere is not doubled).
INTENT_GRACE_S = 120.0
_INTENT = "submitting"
#: Collected answers are written to the log this many rows to a transaction (one commit each, not one per row).
_WRITE_ROWS = 2000


# --- one provider's batch API through its official SDK -----------------------------------
@dataclass
class BatchInfo:
    """What the provider says about one batch."""

    id: str
    state: str
    provider_status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[str] = field(default_factory=list)


class _Backend:
    """Files and batches of one provider. Use as ``async with backend: ...`` (one SDK client inside)."""

    provider_name = ""
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    wait_text = "at most 24 h"

    def __init__(self, provider: Provider) -> None:
        if not isinstance(provider, SupportsBatch):
            raise TypeError(f"provider {provider.name!r} does not implement SupportsBatch")
        self.provider = provider
        self.builder: SupportsBatch = provider  # the same object, seen through the protocol
        self.client: Any = None

    # offline facts
    def key(self) -> str:
        return self.provider.api_key() or ""

    def fingerprint(self) -> str:
        """A short one-way fingerprint of the key: tells a changed key apart without storing it."""
        return hashlib.sha256(("workbench-batch:" + self.key()).encode()).hexdigest()[:12]

    def endpoint_url(self) -> str:
        raise NotImplementedError

    def body(self, request: Request) -> dict[str, Any]:
        """The request the online path would send for ``request`` (the provider builds both)."""
        return self.builder.batch_body(split_model(request.model)[1], request.messages, request.params,
                                       call_options(request))

    def line(self, custom_id: str, request: Request) -> dict[str, Any]:
        raise NotImplementedError

    # calls
    async def __aenter__(self) -> _Backend:  # Python 3.10 has no typing.Self
        self.client = self._make_client()
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self.client = self.client, None
        await self._close(client)

    def _make_client(self) -> Any:
        raise NotImplementedError

    async def _close(self, client: Any) -> None:
        pass

    async def upload(self, data: bytes, filename: str) -> str:
        raise NotImplementedError

    async def create(self, file_id: str, model_name: str, metadata: dict[str, str]) -> BatchInfo:
        raise NotImplementedError

    async def retrieve(self, batch_id: str) -> BatchInfo:
        raise NotImplementedError

    async def cancel(self, batch_id: str) -> BatchInfo:
        raise NotImplementedError

    async def download(self, file_id: str) -> bytes:
        raise NotImplementedError

    async def find(self, token: str) -> BatchInfo | None:
        """The batch whose metadata carries ``workbench_submission == token`` (recent batches only), if any."""
        raise NotImplementedError


class _OpenAIBackend(_Backend):
    provider_name = "openai"
    max_requests = 50_000  # per input file (OpenAI's limit)
    max_bytes = 200 * 1024 * 1024
    wait_text = "minutes to hours, at most 24 h (its completion window)"

    def endpoint_url(self) -> str:
        return str(getattr(self.provider, "base_url", None) or "https://api.openai.com/v1")

    def line(self, custom_id: str, request: Request) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": self.body(request)}

    def _make_client(self) -> Any:

        openai = import_sdk("openai", "openai")
        return openai.AsyncOpenAI(api_key=self.key(), base_url=getattr(self.provider, "base_url", None),
                                  max_retries=3, timeout=600.0)

    async def _close(self, client: Any) -> None:
        await client.close()

    async def upload(self, data: bytes, filename: str) -> str:
        f = await self.client.files.create(file=(filename, data, "application/jsonl"), purpose="batch")
        return str(f.id)

    async def create(self, file_id: str, model_name: str, metadata: dict[str, str]) -> BatchInfo:
        # no SDK retry here: a retried create whose first response was lost would make a second batch;
        # an interrupted create is resolved by find() instead
        return self._info(await self.client.with_options(max_retries=0).batches.create(
            input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h", metadata=metadata))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return self._info(await self.client.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return self._info(await self.client.batches.cancel(batch_id))

    async def download(self, file_id: str) -> bytes:
        content = await self.client.files.content(file_id)
        return bytes(content.content)

    async def find(self, token: str) -> BatchInfo | None:
        seen = 0
        async for b in self.client.batches.list(limit=100):  # newest first; the SDK follows the cursor
            if (b.metadata or {}).get("workbench_submission") == token:
                return self._info(b)
            seen += 1
            if seen >= 2000:
                break
        return None

    @staticmethod
    def _info(b: Any) -> BatchInfo:
        counts = b.request_counts
        errors = [e.message or e.code or "" for e in (b.errors.data or [])] if b.errors else []
        return BatchInfo(b.id, _OPENAI_STATES.get(b.status, "in_progress"), str(b.status),
                         counts.total if counts else 0, counts.completed if counts else 0,
                         counts.failed if counts else 0, b.output_file_id, b.error_file_id, errors)


class _MistralBackend(_Backend):
    provider_name = "mistral"
    max_requests = 1_000_000  # Mistral's documented batch size
    max_bytes = 512 * 1024 * 1024  # its file size limit
    wait_text = "minutes to hours, at most 24 h (timeout_hours=24)"

    def endpoint_url(self) -> str:
        return str(getattr(self.provider, "server_url", None) or "https://api.mistral.ai")

    def line(self, custom_id: str, request: Request) -> dict[str, Any]:
        return {"custom_id": custom_id, "body": self.body(request)}

    def _make_client(self) -> Any:

        return _mistral_client_class()(api_key=self.key(), server_url=getattr(self.provider, "server_url", None))

    async def _close(self, client: Any) -> None:
        exit_ = getattr(client, "__aexit__", None)
        if exit_ is not None:
            await exit_(None, None, None)

    async def upload(self, data: bytes, filename: str) -> str:
        r = await self.client.files.upload_async(file={"file_name": filename, "content": data}, purpose="batch")
        return str(r.id)

    async def create(self, file_id: str, model_name: str, metadata: dict[str, str]) -> BatchInfo:
        return self._info(await self.client.batch.jobs.create_async(
            input_files=[file_id], model=model_name, endpoint=ENDPOINT, metadata=metadata, timeout_hours=24))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return self._info(await self.client.batch.jobs.get_async(job_id=batch_id))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return self._info(await self.client.batch.jobs.cancel_async(job_id=batch_id))

    async def download(self, file_id: str) -> bytes:
        response = await self.client.files.download_async(file_id=file_id)
        return bytes(await response.aread())

    async def find(self, token: str) -> BatchInfo | None:
        for page in range(20):  # newest first
            listing = await self.client.batch.jobs.list_async(page=page, page_size=100)
            jobs = listing.data or []
            for j in jobs:
                if (j.metadata or {}).get("workbench_submission") == token:
                    return self._info(j)
            if not jobs or (page + 1) * 100 >= (listing.total or 0):
                break
        return None

    @staticmethod
    def _info(j: Any) -> BatchInfo:
        status = str(j.status)
        return BatchInfo(str(j.id), _MISTRAL_STATES.get(status, "in_progress"), status, j.total_requests or 0,
                         j.succeeded_requests or 0, j.failed_requests or 0, _opt(j.output_file), _opt(j.error_file),
                         [e.message for e in (j.errors or [])])


def _opt(value: Any) -> str | None:
    """An SDK optional (``None`` or its UNSET marker) -> str or None."""
    return value if isinstance(value, str) and value else None


_BACKENDS: dict[str, type[_Backend]] = {"openai": _OpenAIBackend, "mistral": _MistralBackend}


def backend_for(model: str) -> _Backend:
    """The batch backend of ``model``'s provider, or :class:`BatchUnsupportedError` (before any upload).

    A provider takes part by implementing :class:`~workbench.providers._batching.SupportsBatch`
    with a ``batch_api`` this module speaks; every other provider is refused here, naming the online run.
    """
    provider, _ = resolve(model)
    api = batch_api_of(provider)
    if api in _BACKENDS:
        return _BACKENDS[api](provider)
    kind = ("an OpenAI-compatible server" if isinstance(provider, CompatibleProvider) else
            "the offline model" if provider.name == "local" else
            "the in-process mock" if provider.name == "mock" else f"provider {provider.name!r}")
    raise BatchUnsupportedError(
        f"{model} has no batch API ({kind}; only openai: and mistral: models have one). "
        "Fix: run this experiment online with exp.run() (no batch=True), or drop that model from models=.")


# --- the run log's batch tables ------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _log_of(exp: Experiment) -> RunLog:
    log = exp.runner.run_log
    if log is None:
        raise RunLogError("Batch runs keep their batch ids and results in the run log, and this runner has none "
                          "(log=False). Fix: use a runner with a log, e.g. wb.configure(log='runs.sqlite'), "
                          "or run online with exp.run().")
    return log


def _batch_rows(log: RunLog, experiment_id: str) -> list[dict[str, Any]]:
    rows = log._read(lambda c: c.execute(
        "SELECT * FROM batches WHERE experiment_id = ? ORDER BY created_at, id", (experiment_id,)).fetchall())
    return [dict(r) for r in rows]


def _cells_of(log: RunLog, batch_id: str) -> list[str]:
    rows = log._read(lambda c: c.execute("SELECT cell_key FROM batch_cells WHERE batch_id = ?", (batch_id,)).fetchall())
    return [r[0] for r in rows]


def _cell_batches(log: RunLog, experiment_id: str) -> dict[str, dict[str, Any]]:
    """cell key -> the newest batch row holding it (state, id, collected_at)."""
    rows = log._read(lambda c: c.execute(
        "SELECT bc.cell_key, b.* FROM batch_cells bc JOIN batches b ON b.id = bc.batch_id "
        "WHERE b.experiment_id = ? ORDER BY b.created_at, b.id", (experiment_id,)).fetchall())
    return {r["cell_key"]: dict(r) for r in rows}


def _adopt(log: RunLog, intent_id: str, info: BatchInfo, file_id: str | None) -> None:
    """Turn a logged submission into the provider's batch (its id, state and counts), in one transaction."""
    now = _now()
    with log._tx() as conn:
        conn.execute(
            "INSERT INTO batches (id, experiment_id, provider, model, endpoint_url, key_fingerprint, input_file_id, "
            "state, provider_status, counts_json, output_file_id, error_file_id, cells, created_at, updated_at) "
            "SELECT ?, experiment_id, provider, model, endpoint_url, key_fingerprint, ?, ?, ?, ?, ?, ?, cells, "
            "created_at, ? FROM batches WHERE id = ?",
            (info.id, file_id, info.state, info.provider_status, _counts_json(info), info.output_file_id,
             info.error_file_id, now, intent_id))
        conn.execute("UPDATE batch_cells SET batch_id = ? WHERE batch_id = ?", (info.id, intent_id))
        conn.execute("DELETE FROM batches WHERE id = ?", (intent_id,))


def _drop_intent(log: RunLog, intent_id: str) -> None:
    with log._tx() as conn:
        conn.execute("DELETE FROM batch_cells WHERE batch_id = ?", (intent_id,))
        conn.execute("DELETE FROM batches WHERE id = ?", (intent_id,))


def _counts_json(info: BatchInfo) -> str:
    return json.dumps({"total": info.total, "completed": info.completed, "failed": info.failed,
                       **({"errors": [redact(e) for e in info.errors]} if info.errors else {})})


def _update_batch(log: RunLog, info: BatchInfo, *, collected: bool = False) -> None:
    with log._tx() as conn:
        conn.execute(
            "UPDATE batches SET state = ?, provider_status = ?, counts_json = ?, output_file_id = ?, "
            "error_file_id = ?, updated_at = ?" + (", collected_at = ?" if collected else "") + " WHERE id = ?",
            (info.state, info.provider_status, _counts_json(info), info.output_file_id, info.error_file_id, _now(),
             *((_now(),) if collected else ()), info.id))


def _set_state(log: RunLog, batch_id: str, state: str) -> None:
    with log._tx() as conn:
        conn.execute("UPDATE batches SET state = ?, updated_at = ? WHERE id = ?", (state, _now(), batch_id))


# --- planning -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchPlan:
    """The batch-API side of :meth:`Experiment.plan`: what submitting would do, cost and take."""

    to_submit: int
    batches: int
    pending: int
    pending_batches: int
    resubmittable: int
    cost_usd: float | None
    online_cost_usd: float | None
    wait: str
    unsupported: tuple[str, ...] = ()

    def __repr__(self) -> str:
        if self.unsupported:
            return (f"  batch API: not available for {', '.join(self.unsupported)} "
                    "(run online with exp.run())")
        cost = "unknown (no price; set one with wb.set_price)" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        saving = ""
        if self.cost_usd is not None and self.online_cost_usd:
            saving = f", {100 * (1 - self.cost_usd / self.online_cost_usd):.0f}% below online"
        if self.to_submit:
            plural = "es" if self.batches != 1 else ""
            lines = [(f"  batch API: {self.to_submit} calls in {self.batches} batch{plural}, "
                      f"estimated cost {cost} at the batch price{saving}; expected wait {self.wait}")]
        else:
            lines = ["  batch API: nothing to submit"]
        if self.pending:
            lines.append(f"  already submitted: {self.pending} calls in {self.pending_batches} "
                         f"batch{'es' if self.pending_batches != 1 else ''} not collected yet")
        if self.resubmittable:
            lines.append(f"  {self.resubmittable} calls were left unanswered by ended batches "
                         "(resubmit with exp.submit(resubmit=True))")
        return "\n".join(lines)


def plan_batch(exp: Experiment, todo: Sequence[Cell]) -> BatchPlan | None:
    """The batch side of the plan (``None`` when no model has a batch API)."""
    backends: dict[str, _Backend] = {}
    unsupported = []
    for model in exp.models:
        try:
            backends[model] = backend_for(model)
        except BatchUnsupportedError:
            unsupported.append(model)
    if not backends:
        return None
    if unsupported:
        return BatchPlan(0, 0, 0, 0, 0, None, None, "", tuple(unsupported))
    log = exp.runner.run_log
    held = _cell_batches(log, exp.experiment_id) if log is not None else {}
    held = {k: b for k, b in held.items() if b["state"] != "forgotten"}  # forgotten batches hold nothing
    pending_keys = {k for k, b in held.items() if not b["collected_at"]}
    fresh = [c for c in todo if c.key not in held]
    resubmittable = sum(1 for c in todo if c.key in held and held[c.key]["collected_at"])
    cost: float | None = 0.0
    online: float | None = 0.0

    for cell in fresh:
        t_in, t_out = request_tokens(cell.request)
        price, full = batch_price_of(cell.model), price_of(cell.model)
        cost = None if cost is None or price is None else cost + cost_of(price, t_in, t_out)
        online = None if online is None or full is None else online + cost_of(full, t_in, t_out)
    chunks = sum(len(_chunk_count(backends[m], [c for c in fresh if c.model == m])) for m in backends)
    pending_batches = len({held[k]["id"] for k in pending_keys})
    waits = sorted({b.wait_text for b in backends.values()})[:1]
    return BatchPlan(len(fresh), chunks, len(pending_keys & {c.key for c in exp.cells}), pending_batches,
                     resubmittable, cost, online, "; ".join(waits))


def _chunk_count(backend: _Backend, cells: Sequence[Cell]) -> list[int]:
    """Sizes of the chunks ``cells`` would be split into, by request count only (a cheap estimate for plan())."""
    n = len(cells)
    return [min(backend.max_requests, n - i) for i in range(0, n, backend.max_requests)] if n else []


# --- submitting -----------------------------------------------------------------------------
def _backends(exp: Experiment) -> dict[str, _Backend]:
    return {model: backend_for(model) for model in exp.models}


def _chunks(backend: _Backend, lines: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """Split encoded lines at the provider's request-count and byte limits."""
    out: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for key, data in lines:
        if len(data) > backend.max_bytes:
            raise BatchError(f"One request is {len(data):,} bytes, above {backend.provider_name}'s batch file limit "
                             f"of {backend.max_bytes:,} bytes. Fix: shorten that case, or run it online.")
        if current and (len(current) >= backend.max_requests or size + len(data) > backend.max_bytes):
            out.append(current)
            current, size = [], 0
        current.append((key, data))
        size += len(data)
    if current:
        out.append(current)
    return out


def _check_budget(exp: Experiment, fresh: Sequence[Cell]) -> None:
    """Refuse, before any upload, a batch whose estimate (batch price, plus its judges' online calls) is above
    ``budget_usd``, or whose cost is unknown under a budget."""
    if exp.budget_usd is None or not fresh:
        return
    cost = 0.0
    for cell in fresh:
        price = batch_price_of(cell.model)
        if price is None:
            raise BudgetExceededError(
                f"Cannot keep this batch within budget_usd={exp.budget_usd:g}: the price of {cell.model} is unknown. "
                "Fix: set it with wb.set_price(model, usd_per_mtok_in, usd_per_mtok_out), or drop budget_usd.")
        t_in, t_out = request_tokens(cell.request)
        cost += cost_of(price, t_in, t_out)
    judged: dict[str, float | None] = {}
    judge_calls = exp._judge_estimate(fresh, judged)[0]
    unknown = [m for m, c in judged.items() if c is None]
    if unknown:
        raise BudgetExceededError(
            f"Cannot keep this batch within budget_usd={exp.budget_usd:g}: the price of the judge model "
            f"{', '.join(unknown)} is unknown. Fix: set it with wb.set_price(model, usd_per_mtok_in, "
            "usd_per_mtok_out), or drop budget_usd.")
    judge_cost = sum(c for c in judged.values() if c is not None)
    if cost + judge_cost > exp.budget_usd:
        judges = (f" and up to {judge_calls} online judge calls (${judge_cost:.4f})" if judge_calls else "")
        raise BudgetExceededError(
            f"This batch would make {len(fresh)} calls, estimated at ${cost:.4f} at the batch price{judges}, "
            f"${cost + judge_cost:.4f} in all, above budget_usd={exp.budget_usd:g}. Fix: raise budget_usd, or use "
            "fewer cases, repeats, models or variants" + (", or fewer judges." if judge_calls else "."))


def _is_free(key: str, answered: set[str] | dict[str, Any], held: dict[str, dict[str, Any]], resubmit: bool) -> bool:
    """Whether a cell may be submitted: no answer, and in no batch (or, with ``resubmit``, only in ended ones)."""
    if key in answered:
        return False
    batch = held.get(key)
    return batch is None or batch["state"] == "forgotten" or (resubmit and bool(batch["collected_at"]))


def submit(exp: Experiment, *, resubmit: bool = False, verbose: bool = True) -> BatchJob:
    """Submit every cell that has no answer and is not in a batch yet; return at once (see :class:`BatchJob`)."""
    backends = _backends(exp)  # an unsupported model fails here, before anything is sent
    log = _log_of(exp)
    job = BatchJob(exp)
    job._check_keys()  # a changed key fails before any upload
    log.save_experiment(exp.experiment_id, exp.name, exp.config())
    job._recover()  # a submission cut short by a crash: adopt its batch, never submit its cells again
    run_sync(job._refresh_async(job._uncollected()))  # a batch the provider no longer knows fails here too
    held = _cell_batches(log, exp.experiment_id)
    logged = exp._logged()
    todo = [c for c in exp.cells if _is_free(c.key, logged, held, resubmit)]
    todo = _answer_from_cache(exp, todo)
    _check_budget(exp, todo)
    claimed = _claim(exp, backends, todo, log, resubmit) if todo else []
    job.submitted = run_sync(_send_async(exp, claimed, log)) if claimed else []
    if verbose:
        print(job._submit_summary(sum(c.cells for c in claimed)))
    return job


def _answer_from_cache(exp: Experiment, cells: list[Cell]) -> list[Cell]:
    """Record cache hits as the online path does (a cached row per cell); return the cells still to call."""
    log = _log_of(exp)
    mode = exp.runner.cache if exp.cache is None else exp.cache
    if mode is False:
        return cells
    rest = []
    for cell in cells:
        hit = log.lookup(cell.request.cache_key) if mode is True or cell.request.cacheable_by_default else None
        if hit is None:
            rest.append(cell)
            continue
        hit.tags = dict(cell.request.tags)
        log.record(cell.request, hit, experiment_id=exp.experiment_id, cell_key=cell.key)
    return rest


@dataclass
class _Claim:
    """One batch to send: logged (as an intent holding its cells) before it is sent."""

    intent: str
    backend: _Backend
    model: str
    number: int
    of: int
    data: bytes
    cells: int


def _claim(exp: Experiment, backends: dict[str, _Backend], cells: list[Cell], log: RunLog,
           resubmit: bool) -> list[_Claim]:
    """Hold the cells for new batches in one write transaction, re-checking which are still free.

    Two processes submitting the same experiment at once serialise here: the second finds the
    first one's cells held and sends only what is left (usually nothing).
    """
    encoded: dict[str, list[tuple[str, bytes]]] = {}
    for cell in cells:  # the JSON work happens before taking the write lock
        line = backends[cell.model].line(cell.key, cell.request)
        encoded.setdefault(cell.model, []).append(
            (cell.key, json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"))
    claims: list[_Claim] = []
    now = _now()
    with log._tx() as conn:
        answered = {r[0] for r in conn.execute(
            "SELECT cell_key FROM calls WHERE experiment_id = ? AND status = 'ok'", (exp.experiment_id,))}
        held = {r["cell_key"]: dict(r) for r in conn.execute(
            "SELECT bc.cell_key, b.* FROM batch_cells bc JOIN batches b ON b.id = bc.batch_id "
            "WHERE b.experiment_id = ? ORDER BY b.created_at, b.id", (exp.experiment_id,))}
        for model, lines in encoded.items():
            backend = backends[model]
            chunks = _chunks(backend, [(k, d) for k, d in lines if _is_free(k, answered, held, resubmit)])
            for number, chunk in enumerate(chunks, 1):
                intent = f"{_INTENT}:{uuid.uuid4().hex}"
                conn.execute(
                    "INSERT INTO batches (id, experiment_id, provider, model, endpoint_url, key_fingerprint, state, "
                    "cells, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (intent, exp.experiment_id, backend.provider_name, model, backend.endpoint_url(),
                     backend.fingerprint(), _INTENT, len(chunk), now, now))
                conn.executemany("INSERT INTO batch_cells (batch_id, cell_key) VALUES (?, ?)",
                                 [(intent, key) for key, _ in chunk])
                claims.append(_Claim(intent, backend, model, number, len(chunks), b"".join(d for _, d in chunk),
                                     len(chunk)))
    return claims


async def _send_async(exp: Experiment, claims: list[_Claim], log: RunLog) -> list[str]:
    """Upload and create each claimed batch, then log its id in place of the claim."""
    created: list[str] = []
    for i, claim in enumerate(claims):
        backend, token = claim.backend, claim.intent.partition(":")[2]
        try:
            async with backend:
                file_id = await backend.upload(claim.data, f"{exp.experiment_id}-{claim.number}of{claim.of}.jsonl")
                info = await backend.create(file_id, claim.model.partition(":")[2], {
                    "workbench_experiment": exp.experiment_id[:500], "workbench_chunk": f"{claim.number}/{claim.of}",
                    "workbench_submission": token})
        except BaseException as exc:
            if getattr(exc, "status_code", None) is not None:  # the provider refused: no batch exists
                _drop_intent(log, claim.intent)
            for later in claims[i + 1:]:  # never sent: free their cells again
                _drop_intent(log, later.intent)
            if not isinstance(exc, Exception):
                raise
            raise _translate(exc, backend, f"submitting batch {claim.number} of {claim.of} for {claim.model}") from None
        _adopt(log, claim.intent, info, file_id)
        created.append(info.id)
    return created


def _translate(exc: BaseException, backend: _Backend, what: str, batch_id: str | None = None) -> WorkbenchError:
    if isinstance(exc, WorkbenchError):
        return exc
    status = getattr(exc, "status_code", None)
    detail = redact(f"{type(exc).__name__}: {exc}")[:300]
    if status == 404 and batch_id is not None:
        return BatchNotFoundError(
            f"{backend.provider_name} does not know batch {batch_id} (404), which the run log lists for this "
            f"experiment (submitted to {backend.endpoint_url()}). It was deleted, or the log comes from another "
            "account or server. Fix: point the SDK at the account and server that created it, or give its "
            "unanswered cells up with job.forget() and submit them again.")
    if status in (401, 403):
        return AuthenticationError(f"{backend.provider_name} rejected the key while {what} ({status}). Fix: check "
                                   f"{backend.provider.key_env} (a key of the account that owns the batches).",
                                   status=status)
    return ProviderError(f"{backend.provider_name} batch API failed while {what}: {detail}. Fix: run again later; "
                         "what was submitted is in the run log and is not submitted twice.", status=status)


# --- results ----------------------------------------------------------------------------
def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)


def _result_response(line: dict[str, Any], request: Request, batch: dict[str, Any], latency: float,
                     backend: _Backend) -> Response:
    """One output/error file line -> the Response an online call would have produced."""
    response = line.get("response") or None
    body = response.get("body") if isinstance(response, dict) else None
    status = response.get("status_code") if isinstance(response, dict) else None
    base: dict[str, Any] = {"model": request.model, "provider": request.provider, "prompt_hash": request.prompt_hash,
                                "created_at": _now(), "tags": dict(request.tags), "latency_s": latency}
    if status == 200 and isinstance(body, dict) and body.get("choices"):
        choices = sorted(body["choices"], key=lambda c: c.get("index", 0))
        texts = [redact(_content((c.get("message") or {}).get("content"))) for c in choices]
        u = usage_of(body.get("usage") or {})
        sent = {"provider": request.provider, **backend.body(request), "batch_id": batch["id"]}
        answer = Response(text=texts[0], finish_reason=choices[0].get("finish_reason"), choices=texts, usage=u,
                          cost_usd=estimate_batch_cost(request.model, u), request=redact_obj(sent), **base)
        raw = raw_tool_calls((choices[0].get("message") or {}).get("tool_calls"))
        attach_answer_extras(answer, redact_obj(raw), request)  # tool_calls, parsed, parse_error as online
        return answer
    error = line.get("error") or {}
    message = (error.get("message") if isinstance(error, dict) else None) or _body_message(body) or "no answer"
    code = error.get("code") if isinstance(error, dict) else None
    if code == "batch_expired" or (status is None and batch["state"] == "expired"):
        kind = "BatchExpiredError"
    elif code == "batch_cancelled" or (status is None and batch["state"] == "cancelled"):
        kind = "CancelledRunError"
    elif status in (401, 403):
        kind = "AuthenticationError"
    elif status == 429:
        kind = "RateLimitError"
    elif isinstance(status, int) and status >= 500:
        kind = "ServerError"
    elif isinstance(status, int) and status >= 400:
        kind = "BadRequestError"
    else:
        kind = "ProviderError"
    where = f"batch {batch['id']}" + (f", status {status}" if status else "") + (f", {code}" if code else "")
    return Response(text="", request=redact_obj({"provider": request.provider, **backend.body(request),
                                                 "batch_id": batch["id"]}),
                    error=redact(f"{message} ({where})"), error_type=kind, **base)


def _body_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return str(body["message"]) if body.get("message") else None


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --- the job ------------------------------------------------------------------------------
class BatchJob:
    """An experiment's batches, as recorded in the run log.

    ``status()`` asks the provider about each batch and returns a table (state,
    counts, whether collected); ``wait()`` polls until every batch has ended,
    collecting each as it ends; ``collect()`` collects the ended ones now;
    ``cancel()`` cancels the running ones; ``forget()`` gives up batches the
    provider no longer knows (their unanswered cells can then be submitted again).
    """

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp
        self.log = _log_of(exp)
        self.submitted: list[str] = []

    # --- reading the log
    def batches(self) -> list[dict[str, Any]]:
        """Every batch of the experiment, as logged (dicts: id, provider, model, state, counts, ...)."""
        return _batch_rows(self.log, self.exp.experiment_id)

    def _uncollected(self) -> list[dict[str, Any]]:
        """Batches the provider has and that are not collected yet (interrupted submissions excluded)."""
        return [b for b in self.batches() if not b["collected_at"] and b["state"] not in ("forgotten", _INTENT)]

    def _intents(self) -> list[dict[str, Any]]:
        return [b for b in self.batches() if b["state"] == _INTENT]

    def _recover(self) -> None:
        """Resolve submissions interrupted between asking for a batch and logging its id.

        The provider's recent batches are searched for the submission's token (batch metadata):
        found, the batch is adopted; not found and older than ``INTENT_GRACE_S``, the submission
        never happened and its cells are free again.
        """
        intents = self._intents()
        if not intents:
            return
        self._check_keys(intents)

        async def go() -> None:
            for intent in intents:
                backend = self._backend(intent)
                async with backend:
                    try:
                        info = await backend.find(intent["id"].partition(":")[2])
                    except Exception as exc:  # noqa: BLE001 - each SDK raises its own types; translated into named errors
                        raise _translate(exc, backend, "looking for an interrupted submission") from None
                if info is not None:
                    _adopt(self.log, intent["id"], info, None)
                elif time.time() - _parse_time(intent["created_at"]) > INTENT_GRACE_S:
                    _drop_intent(self.log, intent["id"])

        run_sync(go())

    def _backend(self, batch: dict[str, Any]) -> _Backend:
        return backend_for(batch["model"])

    def _check_keys(self, batches: Sequence[dict[str, Any]] | None = None) -> None:
        """Refuse, before any network call, when the key differs from the one a batch was submitted with."""
        for batch in self._uncollected() + self._intents() if batches is None else batches:
            backend = self._backend(batch)
            if batch["key_fingerprint"] and backend.fingerprint() != batch["key_fingerprint"]:
                env = backend.provider.key_env
                raise BatchKeyChangedError(
                    f"Batch {batch['id']} of experiment {self.exp.experiment_id} was submitted with another "
                    f"{env} than the one set now (key fingerprints {batch['key_fingerprint']} then, "
                    f"{backend.fingerprint()} now); a batch belongs to the account and project whose key created it. "
                    f"Fix: set the key you submitted with (wb.set_key({env!r}, ...)) and run again; or give those "
                    "cells up with job.forget() and submit them again with this key.")

    # --- talking to the providers
    async def _refresh_async(self, batches: Sequence[dict[str, Any]]) -> list[BatchInfo]:
        infos = []
        for batch in batches:
            backend = self._backend(batch)
            async with backend:
                try:
                    info = await backend.retrieve(batch["id"])
                except Exception as exc:  # noqa: BLE001 - each SDK raises its own types; translated into named errors
                    raise _translate(exc, backend, f"reading batch {batch['id']}", batch_id=batch["id"]) from None
            _update_batch(self.log, info)
            infos.append(info)
        return infos

    async def _collect_async(self, batches: Sequence[dict[str, Any]]) -> int:
        """Download the output and error files of ended batches into the log; returns rows written."""
        by_key = {c.key: c for c in self.exp.cells}
        written = 0
        for batch in batches:
            backend = self._backend(batch)
            async with backend:
                try:
                    info = await backend.retrieve(batch["id"])
                    if info.state not in TERMINAL:
                        continue
                    files = [f for f in (info.output_file_id, info.error_file_id) if f]
                    blobs = [await backend.download(f) for f in files]
                except Exception as exc:  # noqa: BLE001 - each SDK raises its own types; translated into named errors
                    raise _translate(exc, backend, f"collecting batch {batch['id']}", batch_id=batch["id"]) from None
            batch = {**batch, "state": info.state}
            latency = max(time.time() - _parse_time(batch["created_at"]), 0.0)
            answered: set[str] = set()
            keys = set(_cells_of(self.log, batch["id"]))
            rows: list[tuple[Request, Response, str | None, str | None]] = []
            for blob in blobs:
                for raw in blob.splitlines():
                    if not raw.strip():
                        continue
                    line = json.loads(raw)
                    key = line.get("custom_id")
                    if key not in keys or key in answered or key not in by_key:
                        continue
                    cell = by_key[key]
                    rows.append((cell.request, _result_response(line, cell.request, batch, latency, backend),
                                 self.exp.experiment_id, key))
                    answered.add(key)
                    if len(rows) >= _WRITE_ROWS:
                        written += len(self.log.record_many(rows))
                        rows = []
            for key in sorted(keys - answered):  # a failed batch (bad file) answers nothing: say why, per cell
                if key not in by_key:
                    continue
                why = "; ".join(info.errors) or f"the batch ended as {info.provider_status} without answering it"
                line = {"custom_id": key, "response": None, "error": {"message": why, "code": f"batch_{info.state}"}}
                rows.append((by_key[key].request, _result_response(line, by_key[key].request, batch, latency,
                                                                      backend),
                             self.exp.experiment_id, key))
            written += len(self.log.record_many(rows))
            _update_batch(self.log, info, collected=True)
        return written

    # --- public
    def status(self, *, refresh: bool = True) -> pd.DataFrame:
        """One row per batch: id, provider, model, state, provider status, cells, total/completed/failed, collected."""
        import pandas as pd

        if refresh:
            self._check_keys()
            self._recover()
            run_sync(self._refresh_async(self._uncollected()))
        rows = []
        for b in self.batches():
            counts = json.loads(b["counts_json"] or "{}")
            rows.append({"batch_id": b["id"], "provider": b["provider"], "model": b["model"], "state": b["state"],
                         "provider_status": b["provider_status"], "cells": b["cells"],
                         "total": counts.get("total", 0), "completed": counts.get("completed", 0),
                         "failed": counts.get("failed", 0), "collected": bool(b["collected_at"]),
                         "submitted_at": b["created_at"]})
        return pd.DataFrame(rows, columns=["batch_id", "provider", "model", "state", "provider_status", "cells",
                                           "total", "completed", "failed", "collected", "submitted_at"])

    def collect(self) -> int:
        """Collect every ended, uncollected batch now; returns the number of result rows written."""
        self._check_keys()
        return run_sync(self._collect_async(self._uncollected()))

    def cancel(self) -> pd.DataFrame:
        """Ask the provider to cancel every running batch; what they finished is still collected. Returns status()."""
        self._check_keys()

        async def go() -> None:
            for batch in self._uncollected():
                if batch["state"] in TERMINAL or batch["state"] == "cancelling":
                    continue
                backend = self._backend(batch)
                async with backend:
                    try:
                        info = await backend.cancel(batch["id"])
                    except Exception as exc:  # noqa: BLE001 - each SDK raises its own types; translated into named errors
                        if getattr(exc, "status_code", None) in (400, 409):  # it ended meanwhile
                            continue
                        raise _translate(exc, backend, f"cancelling batch {batch['id']}",
                                         batch_id=batch["id"]) from None
                _update_batch(self.log, info)

        run_sync(go())
        return self.status()

    def forget(self, batch_ids: Sequence[str] | None = None) -> None:
        """Stop tracking uncollected batches (all, or those given): their unanswered cells may be submitted again.

        For batches the provider no longer knows, or that were submitted with a key you no longer have.
        """
        for batch in self._uncollected():
            if batch_ids is None or batch["id"] in batch_ids:
                _set_state(self.log, batch["id"], "forgotten")
        for intent in self._intents():
            if batch_ids is None or intent["id"] in batch_ids:
                _drop_intent(self.log, intent["id"])

    def pending(self) -> int:
        """Cells in batches not collected yet (and in submissions not resolved yet)."""
        return sum(b["cells"] for b in self._uncollected() + self._intents())

    def wait(self, *, timeout: float | None = None, progress: bool = True, poll_s: float | None = None,
             stop: threading.Event | None = None) -> bool:
        """Poll until every batch has ended and is collected (or ``timeout`` seconds pass); True if all are.

        The progress bar counts answered calls and shows each batch state with its batches and counts
        (see :func:`progress_text`). ``stop`` (set from another thread) ends the wait at the next poll,
        as ``timeout`` does: what ended is collected, the rest stays pending in the log.
        """
        self._check_keys()
        pending = self._uncollected()
        total = sum(b["cells"] for b in pending)
        bar = _make_bar(total) if progress and total else None
        seen: dict[str, BatchInfo] = {}  # every batch of this wait, by id: its latest state and counts
        start = time.monotonic()
        interval = poll_s if poll_s is not None else POLL_S[0]
        try:
            while True:
                self._recover()
                pending = self._uncollected()
                if not pending and not self._intents():
                    return True
                infos = run_sync(self._refresh_async(pending)) if pending else []
                seen.update({i.id: i for i in infos})
                ended = [b for b, i in zip(pending, infos, strict=True) if i.state in TERMINAL]
                if ended:
                    run_sync(self._collect_async(ended))
                if bar is not None:
                    done = sum(i.completed + i.failed for i in infos if i.state not in TERMINAL)
                    still = sum(b["cells"] for b, i in zip(pending, infos, strict=True) if i.state not in TERMINAL)
                    bar.n = min(total, max(total - still, 0) + done)
                    bar.set_postfix_str(progress_text(list(seen.values())), refresh=False)
                    bar.refresh()
                if not self._uncollected() and not self._intents():
                    return True
                if timeout is not None and time.monotonic() - start + interval > timeout:
                    return False
                if stop is not None:
                    if stop.wait(interval):
                        return False
                else:
                    time.sleep(interval)
                if poll_s is None:
                    interval = min(interval * 1.5, POLL_S[1])
        finally:
            if bar is not None:
                bar.close()

    def _submit_summary(self, count: int) -> str:
        if not self.submitted:
            return (f"Nothing to submit: {len(self.exp.cells)} calls are answered or already in a batch "
                    f"({self.pending()} pending).")
        return (f"Submitted {count} calls in {len(self.submitted)} batch{'es' if len(self.submitted) != 1 else ''} "
                f"({', '.join(self.submitted)}); results with exp.run(batch=True), progress with job.status().")

    def __repr__(self) -> str:
        rows = self.batches()
        states: dict[str, int] = {}
        for b in rows:
            states[b["state"]] = states.get(b["state"], 0) + 1
        text = ", ".join(f"{n} {s}" for s, n in states.items()) or "no batches"
        return f"<BatchJob {self.exp.experiment_id}: {text}; {self.pending()} calls pending>"


# --- run(batch=True) ----------------------------------------------------------------------
def run_batch(exp: Experiment, *, timeout: float | None = None, progress: bool = True, verbose: bool = True,
              poll_s: float | None = None, resubmit: bool = False, stop: threading.Event | None = None
              ) -> pd.DataFrame:
    """Submit what is missing, wait (with a progress bar) and collect, then score and return the results table."""
    if verbose:
        print(repr(exp.plan()))
    job = submit(exp, resubmit=resubmit, verbose=verbose)
    finished = job.wait(timeout=timeout, progress=progress, poll_s=poll_s, stop=stop)
    responses = _responses(exp, job)
    done = {k: r for k, r in responses.items() if r.error_type != "BatchPendingError"}
    in_batches = job_cells(job)
    todo = [c for c in exp.cells if c.key in in_batches and c.key in done]  # answered through a batch
    # judges grade the answers online; pending and failed cells are not ok, so they are not judged or scored
    scored = run_sync(exp._score_async(responses, exp._logged(), None, plain_in_loop=False))
    frame = exp._finish(responses, {**exp._score_plain(responses), **scored}, todo, verbose)
    pending = sum(1 for r in responses.values() if r.error_type == "BatchPendingError")
    frame.attrs["batch_pending"] = pending
    if verbose and not finished:
        after = f"after {timeout:g} s" if timeout is not None else "when the wait was stopped"
        print(f"{pending} calls still pending in {len(job._uncollected())} batch(es) {after}; "
              "run exp.run(batch=True) again later to collect them (nothing is submitted twice).")
    return frame


async def arun_batch(exp: Experiment, **options: Any) -> pd.DataFrame:
    """``await exp.arun(batch=True)``: :func:`run_batch` in a worker thread, so the caller's loop keeps running.

    A notebook's own event loop (Jupyter's) must not block for the hours a batch may take, and
    ``asyncio.run`` cannot be called inside it: the polling, with its ``time.sleep``, runs in a
    thread; the network calls run in the portal loop as for ``run(batch=True)``. Cancelling the
    awaiting task stops the wait at the next poll (the batches keep running at the provider and
    a later run collects them).
    """
    import asyncio

    stop = threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(run_batch, exp, stop=stop, **options))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop.set()
        raise


def job_cells(job: BatchJob) -> set[str]:
    rows = job.log._read(lambda c: c.execute(
        "SELECT bc.cell_key FROM batch_cells bc JOIN batches b ON b.id = bc.batch_id WHERE b.experiment_id = ?",
        (job.exp.experiment_id,)).fetchall())
    return {r[0] for r in rows}


def _responses(exp: Experiment, job: BatchJob) -> dict[str, Response]:
    """Every cell's answer: the logged ok row, else its latest error row, else a 'pending' placeholder."""

    logged = exp._logged()
    rows = job.log._read(lambda c: c.execute(
        "SELECT * FROM calls WHERE experiment_id = ? AND status = 'error' ORDER BY id",
        (exp.experiment_id,)).fetchall())
    errors = {r["cell_key"]: row_to_response(r) for r in rows}
    held = _cell_batches(job.log, exp.experiment_id)
    out: dict[str, Response] = {}
    for cell in exp.cells:
        if cell.key in logged:
            out[cell.key] = answer = logged[cell.key]
            rf = cell.request.response_format
            if rf is not None and answer.ok and not answer.tool_calls:
                # parsed again from the logged text, as the runner does for a cached answer: the same
                # object an online run gives (a pydantic model, the answer's own key order)
                answer.parsed, answer.parse_error = rf.parse(answer.text)
        elif cell.key in errors:
            out[cell.key] = errors[cell.key]
        else:
            batch = held.get(cell.key)
            where = f"batch {batch['id']} ({batch['state']})" if batch else "no batch"
            out[cell.key] = Response(text="", model=cell.model, provider=cell.request.provider, cost_usd=None,
                                     error=f"Not answered yet: pending in {where}. Fix: run exp.run(batch=True) "
                                           "again later to collect it.",
                                     error_type="BatchPendingError", latency_s=math.nan, tags=dict(cell.request.tags))
    return out


def _make_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="batch", unit="call", leave=False)


_STATE_LABELS = {"validating": "validating", "in_progress": "in progress", "finalizing": "finalizing",
                 "done": "done", "failed": "failed", "expired": "expired", "cancelling": "cancelling",
                 "cancelled": "cancelled"}


def progress_text(infos: Sequence[BatchInfo]) -> str:
    """The progress bar's postfix: each state's batches and their counts, in the order batches move through.

    For example ``in progress 2 (1,200/5,000) · validating 1 · done 1 (2,500/2,500, 3 failed)``:
    the number after the state is how many batches are in it; in brackets, their lines answered
    (successfully or not) out of their lines, and how many of those failed.
    """
    parts = []
    for state in STATES:
        group = [i for i in infos if i.state == state]
        if not group:
            continue
        total = sum(i.total for i in group)
        answered = sum(i.completed + i.failed for i in group)
        failed = sum(i.failed for i in group)
        counts = f" ({answered:,}/{total:,}" + (f", {failed:,} failed" if failed else "") + ")" if total else ""
        parts.append(f"{_STATE_LABELS.get(state, state)} {len(group)}{counts}")
    return " · ".join(parts) or "submitting"
