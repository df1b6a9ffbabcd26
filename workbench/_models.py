"""Stronger local models one line away: a short catalog, downloaded once from the Hugging Face Hub.

``wb.add_local_model("qwen2.5-1.5b")`` registers ``local:qwen2.5-1.5b`` from the
catalog below; ``wb.add_local_model("name", hf_repo=..., filename=...)`` any GGUF
file on the Hub; ``wb.add_local_model("name", "path/model.gguf")`` a file on disk.

Why it works the way it does:

* **Downloaded once, through ``huggingface_hub``** (``hf_hub_download``) into its
  shared cache, so a model fetched by any other tool is reused and ``HF_ENDPOINT``
  (a mirror) and ``HF_TOKEN`` are honoured. Its progress bar shows the download.
* **Eager by default**: ``add_local_model`` downloads at once (``download=True``),
  so the progress bar and any network error appear in the cell that asked for the
  model, not inside a later run. With ``download=False`` it only registers; the
  file is fetched on the first call, still before that call is made.
* **Checked**: the file's sha256 is compared with the catalog's pinned one if there
  is one, else with the hub's own (the LFS sha256, which ``huggingface_hub`` keeps
  as the blob's name in its cache). A file that does not match is deleted and refused.
  A verified file is remembered (size and mtime) so it is not hashed again.
* **Offline**: with no network the error says the model is not downloaded and names
  both fixes: run the same line with a network, or copy the file into
  :func:`models_dir` (a plain folder: the file under its own name).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import MissingDependencyError, ModelNotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CatalogModel", "CATALOG", "HubFile", "add_local_model", "local_models", "models_dir", "sha256_of"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CatalogModel:
    """A recommended instruction-tuned GGUF model.

    ``size_gb`` is the file's size on disk (rounded, as the hub lists it); ``ram_gb``
    and ``tokens_per_s`` (generation on 2 CPU cores, 1 thread a core) are estimates
    scaled from SmolLM2-135M's measured speed by file size unless ``measured`` is set.
    ``sha256`` is pinned only where it could be stated truthfully; otherwise the hub's
    own LFS sha256 is what the download is checked against.
    """

    name: str
    hf_repo: str
    filename: str
    size_gb: float
    ram_gb: float
    tokens_per_s: float
    languages: str
    licence: str
    note: str = ""
    sha256: str | None = None
    n_ctx: int = 4096
    measured: bool = False


CATALOG: dict[str, CatalogModel] = {m.name: m for m in (
    CatalogModel("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf",
                 0.49, 0.9, 25, "29 incl. en, zh, fr, es, de, ja", "Apache-2.0",
                 "smallest model that follows simple instructions in several languages"),
    CatalogModel("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf",
                 1.12, 1.8, 10, "29 incl. en, zh, fr, es, de, ja", "Apache-2.0",
                 "the recommended step up: follows formats, answers French, can act as a rough judge"),
    CatalogModel("llama3.2-1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                 0.81, 1.3, 14, "en, de, fr, it, pt, hi, es, th", "Llama 3.2 Community",
                 "Meta's small instruction model"),
    CatalogModel("gemma3-1b", "bartowski/google_gemma-3-1b-it-GGUF", "google_gemma-3-1b-it-Q4_K_M.gguf",
                 0.81, 1.3, 14, "140+ (strongest in en)", "Gemma terms of use",
                 "Google's small instruction model"),
    CatalogModel("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF", "smollm2-360m-instruct-q8_0.gguf",
                 0.39, 0.7, 30, "en", "Apache-2.0",
                 "the built-in model's bigger sibling: same family, still English only"),
    CatalogModel("smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF", "smollm2-1.7b-instruct-q4_k_m.gguf",
                 1.06, 1.7, 10, "en", "Apache-2.0", "strongest SmolLM2; English only"),
    CatalogModel("phi3.5-mini", "bartowski/Phi-3.5-mini-instruct-GGUF", "Phi-3.5-mini-instruct-Q4_K_M.gguf",
                 2.39, 3.2, 4, "en (some multilingual)", "MIT",
                 "best reasoning here, slowest: about 4 tokens/s on 2 cores"),
)}


def models_dir() -> Path:
    """Where a model file copied by hand is found: ``$WORKBENCH_MODELS_DIR``, else ``models/`` in the
    workbench's data folder (beside the run log). A file there under its own name is used as it is."""
    env = os.environ.get("WORKBENCH_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("prompt-workbench", appauthor=False) / "models"


def hub_cache_dir() -> Path:
    """``huggingface_hub``'s cache, read at call time (its own constant is fixed when it is imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def hub_endpoint() -> str:
    """The hub's address: ``$HF_ENDPOINT`` (a mirror, or a test's loopback server) at call time."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- files verified once: (size, mtime) -> sha256, kept beside the copied models --------------------------
_verified_lock = threading.Lock()


def _verified_file() -> Path:
    return models_dir() / ".verified.json"


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _known_hash(path: Path) -> str | None:
    """The sha256 recorded for ``path`` when it was last verified, if the file has not changed since."""
    try:
        entry = json.loads(_verified_file().read_text()).get(str(path.resolve()))
    except (OSError, ValueError):
        return None
    return entry[2] if entry and entry[:2] == _stamp(path) else None


def _remember(path: Path, digest: str) -> None:
    with _verified_lock:
        file = _verified_file()
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            data = {}
        data[str(path.resolve())] = [*_stamp(path), digest]
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(data, indent=1))
        except OSError:
            pass  # a read-only data folder only costs a second hash next time


@dataclass
class HubFile:
    """One GGUF file on the hub (or copied into :func:`models_dir`), as ``local:<name>`` finds it."""

    name: str
    hf_repo: str
    filename: str
    sha256: str | None = None
    revision: str = "main"
    #: What the last lookup found (a path), for :func:`local_models`.
    path: Path | None = field(default=None, compare=False)

    def copied_path(self) -> Path:
        return models_dir() / self.filename

    def fix(self) -> str:
        return (f"Fix: run wb.add_local_model({self.name!r}{self._args()}) with a network (it downloads "
                f"{self.filename} from {self.hf_repo} once), or copy that file to {self.copied_path()}.")

    def _args(self) -> str:
        if self.name in CATALOG and CATALOG[self.name].hf_repo == self.hf_repo:
            return ""
        return f", hf_repo={self.hf_repo!r}, filename={self.filename!r}"

    def local(self) -> Path | None:
        """The verified file if it is on this machine (copied by hand, or in the hub's cache), else ``None``."""
        copied = self.copied_path()
        if copied.is_file():
            self._check(copied, self.sha256, delete=False)
            return copied
        cached = self._cached()
        if cached is not None:
            self._check(cached, self._expected(cached), delete=True)
        return cached

    def _cached(self) -> Path | None:
        hub = _hub()
        found = hub.try_to_load_from_cache(self.hf_repo, self.filename, cache_dir=str(hub_cache_dir()),
                                           revision=self.revision)
        return Path(found) if isinstance(found, str) and os.path.isfile(found) else None

    def resolve(self) -> Path:
        """The verified file, downloaded first if it is not on this machine yet."""
        self.path = self.local() or self.download()
        return self.path

    def download(self) -> Path:
        hub = _hub()
        from huggingface_hub import errors

        unreachable = _unreachable(hub_endpoint())
        if unreachable is not None:  # huggingface_hub would retry for ~25 s before saying so
            raise ModelNotFoundError(f"local:{self.name} is not downloaded, and the hub ({hub_endpoint()}) "
                                     f"cannot be reached ({unreachable}). {self.fix()}")
        try:
            found = hub.hf_hub_download(self.hf_repo, self.filename, revision=self.revision,
                                        cache_dir=str(hub_cache_dir()), endpoint=hub_endpoint())
        except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as exc:
            raise ModelNotFoundError(
                f"local:{self.name} is not downloaded, and the hub ({hub_endpoint()}) cannot be reached "
                f"({type(exc).__name__}). {self.fix()}") from None
        except errors.GatedRepoError:
            raise ModelNotFoundError(
                f"{self.hf_repo} is gated: its licence must be accepted on the hub first. Fix: accept it at "
                f"{hub_endpoint()}/{self.hf_repo}, then set HF_TOKEN to a token of that account.") from None
        except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError) as exc:
            raise ModelNotFoundError(
                f"The hub has no file {self.filename!r} in {self.hf_repo!r} at {self.revision!r} "
                f"({type(exc).__name__}). Fix: check hf_repo and filename on {hub_endpoint()}/{self.hf_repo}.",
            ) from None
        except OSError as exc:  # the body broke off after huggingface_hub's own resumes, a full disk, ...
            raise ModelNotFoundError(
                f"Downloading {self.filename} from {self.hf_repo} failed: {type(exc).__name__}: {exc}. "
                "Fix: run the same line again (nothing broken is kept), or copy the file to "
                f"{self.copied_path()}.") from None
        path = Path(found)
        self._check(path, self._expected(path), delete=True)
        return path

    def _expected(self, cached: Path) -> str | None:
        """The pinned sha256, else the hub's (an LFS file's blob is named by its sha256 in the cache)."""
        if self.sha256:
            return self.sha256.lower()
        blob = Path(os.path.realpath(cached)).name
        return blob if _SHA256.fullmatch(blob) else None

    def _check(self, path: Path, expected: str | None, *, delete: bool) -> None:
        """Refuse a file whose sha256 is not ``expected`` (deleting it from the hub's cache)."""
        if expected is None:
            return
        digest = _known_hash(path) or sha256_of(path)
        if digest == expected:
            _remember(path, digest)
            return
        where = "downloaded" if delete else "copied"
        if delete:
            _drop_cached(path)
        raise ModelNotFoundError(
            f"The {where} file for local:{self.name} is corrupt or not the expected one: its sha256 is "
            f"{digest[:16]}…, expected {expected[:16]}…. "
            + ("It was deleted. " if delete else "")
            + ("Fix: run the same line again to download it afresh; if it keeps failing, the file on the hub "
               "has changed: pass sha256= of the new file (or sha256=None to take the hub's)."
               if delete else f"Fix: copy the file again (or delete {path} and download it)."))


def _unreachable(endpoint: str, timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (offline mode, no DNS, refused, no answer in ``timeout`` s), else ``None``.

    A TCP connect only, skipped behind a proxy (the proxy, not the hub, is what is reached).
    """
    import socket
    from urllib.parse import urlsplit

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return None
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except socket.gaierror:
        return f"the name {parts.hostname} does not resolve: no network?"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _drop_cached(pointer: Path) -> None:
    """Delete a refused file from the hub's cache: the blob and the snapshot link to it."""
    blob = Path(os.path.realpath(pointer))
    for p in {blob, pointer}:
        with contextlib.suppress(OSError):
            p.unlink()


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise MissingDependencyError(
            "Downloading a local model needs the 'huggingface_hub' package, which is not installed. "
            "Fix: pip install 'prompt-workbench[models]' (or pass the path of a GGUF file you have).") from None
    return huggingface_hub


# --- what is registered ------------------------------------------------------------------------------------
_sources: dict[str, HubFile] = {}


def add_local_model(name: str, path: str | os.PathLike[str] | None = None, *, hf_repo: str | None = None,
                    filename: str | None = None, sha256: str | None = None, n_ctx: int | None = None,
                    download: bool = True, revision: str = "main") -> None:
    """Register a GGUF model as ``"local:<name>"``: a catalog name, a file on the hub, or a file on disk.

    >>> wb.add_local_model("qwen2.5-1.5b")                      # doctest: +SKIP
    >>> wb.add_local_model("tiny", hf_repo="org/x-GGUF", filename="x-q4_k_m.gguf")  # doctest: +SKIP
    >>> wb.add_local_model("mine", "models/mine.gguf")          # doctest: +SKIP

    ``download=True`` (the default) fetches the file now, once, with a progress bar;
    ``download=False`` registers it and fetches it on the first call instead. Either
    way a model that cannot be had raises :class:`ModelNotFoundError` before any call.
    """
    from .providers import get_provider
    from .providers._local import LocalProvider

    provider = get_provider("local")
    assert isinstance(provider, LocalProvider)
    if path is not None:
        if hf_repo or filename:
            raise ModelNotFoundError("Give either a path or hf_repo/filename, not both. Fix: drop one of them.")
        provider.register(name, path, n_ctx=n_ctx or 4096)
        _sources.pop(name, None)
        return
    source = _source(name, hf_repo, filename, sha256, revision)
    window = n_ctx or (CATALOG[name].n_ctx if name in CATALOG else 4096)
    if download:
        source.resolve()
    provider.register_source(name, source.resolve, n_ctx=window)
    _sources[name] = source


def _source(name: str, hf_repo: str | None, filename: str | None, sha256: str | None, revision: str) -> HubFile:
    if sha256 is not None and not _SHA256.fullmatch(str(sha256).lower()):
        raise ModelNotFoundError(f"sha256={sha256!r} is not a sha256 (64 hex digits). Fix: pass the file's "
                                 "sha256 as the hub lists it, or leave it out to check against the hub's.")
    if hf_repo is None and filename is None:
        entry = CATALOG.get(name)
        if entry is None:
            import difflib

            close = difflib.get_close_matches(name, list(CATALOG), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ModelNotFoundError(
                f"{name!r} is not in the catalog of local models.{hint} Catalog: {', '.join(CATALOG)} "
                "(wb.local_models() shows sizes and speeds). Fix: use one of those, or give hf_repo= and "
                "filename= of a GGUF file on the hub, or the path of one on disk.")
        return HubFile(name, entry.hf_repo, entry.filename, sha256 or entry.sha256, revision)
    if not hf_repo or not filename or not str(filename).lower().endswith(".gguf"):
        raise ModelNotFoundError(
            f"A hub model needs hf_repo= and filename= of a .gguf file (got hf_repo={hf_repo!r}, "
            f"filename={filename!r}). Fix: e.g. hf_repo='Qwen/Qwen2.5-1.5B-Instruct-GGUF', "
            "filename='qwen2.5-1.5b-instruct-q4_k_m.gguf'.")
    return HubFile(name, hf_repo, filename, sha256, revision)


def local_models() -> pd.DataFrame:
    """The catalog and any other hub models registered here, with whether each is on this machine.

    Looks only at the disk (never the network); ``downloaded`` is the verified file's path, or empty.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    extra = {n: s for n, s in _sources.items() if n not in CATALOG}
    for name, model in CATALOG.items():
        rows.append({"model": f"local:{name}", "hf_repo": model.hf_repo, "filename": model.filename,
                     "size_gb": model.size_gb, "ram_gb": model.ram_gb,
                     "tokens_per_s": model.tokens_per_s, "speed": "measured" if model.measured else "estimated",
                     "languages": model.languages, "licence": model.licence,
                     "downloaded": _where(_sources.get(name) or HubFile(name, model.hf_repo, model.filename,
                                                                         model.sha256)),
                     "registered": name in _sources, "note": model.note})
    for name, source in extra.items():
        rows.append({"model": f"local:{name}", "hf_repo": source.hf_repo, "filename": source.filename,
                     "downloaded": _where(source), "registered": True})
    return pd.DataFrame(rows)


def _where(source: HubFile) -> str:
    copied = source.copied_path()
    if copied.is_file():
        return str(copied)
    try:
        cached = source._cached()
    except MissingDependencyError:
        return ""
    return str(cached) if cached is not None else ""

