"""The workbench's error hierarchy.

Every error a user can meet says what went wrong *and* how to fix it, because
the people reading them are often learning. Errors raised on bad input are
raised before any model call is spent. Messages pass through
:func:`workbench._keys.redact` so that no API key can leak through them.
"""

from __future__ import annotations

from ._keys import redact  # _keys imports nothing from the workbench, so this makes no cycle

__all__ = [
    "WorkbenchError",
    "PromptError",
    "ContextWindowError",
    "ParamsError",
    "UnsupportedParamError",
    "ModelNotFoundError",
    "MissingKeyError",
    "MissingDependencyError",
    "RunLogError",
    "BudgetExceededError",
    "CasesError",
    "ScorerError",
    "ProviderError",
    "RateLimitError",
    "AuthenticationError",
    "BadRequestError",
    "ServerError",
    "ProviderTimeoutError",
    "ProviderConnectionError",
    "StreamInterruptedError",
    "TruncatedResponseError",
    "MalformedResponseError",
    "CancelledRunError",
    "BatchError",
    "BatchUnsupportedError",
    "BatchNotFoundError",
    "BatchKeyChangedError",
    "BatchExpiredError",
    "BatchPendingError",
    "SchemaError",
    "ToolError",
    "TokensError",
]


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


class PromptError(WorkbenchError, ValueError):
    """A prompt cannot be rendered: missing, unused or misspelt variable, empty prompt."""


class ContextWindowError(PromptError):
    """The rendered prompt does not fit in the model's context window."""


class ParamsError(WorkbenchError, ValueError):
    """A generation parameter is unknown or out of its allowed range."""


class UnsupportedParamError(ParamsError):
    """A provider cannot honour a parameter that was set."""


class ModelNotFoundError(WorkbenchError, LookupError):
    """A ``provider:model`` string names no known provider or model."""


class MissingKeyError(WorkbenchError):
    """A provider needs an API key that is not configured."""


class MissingDependencyError(WorkbenchError, ImportError):
    """An optional SDK is not installed; the message names the pip extra."""


class RunLogError(WorkbenchError):
    """The SQLite run log cannot be opened, is not a workbench log, or cannot take a write.

    After a failed write, ``unsaved_path`` names the fallback file holding the rows
    not yet written, and ``responses`` holds the answers of the run (none is lost).
    """

    unsaved_path: str | None = None
    responses: list = []  # replaced per instance, never mutated


class BudgetExceededError(WorkbenchError):
    """An experiment would cost more than the budget it was given."""


class CasesError(WorkbenchError, ValueError):
    """Test cases do not fit the prompts (missing columns, unreadable file)."""


class ScorerError(WorkbenchError, ValueError):
    """A scorer was configured wrongly (for example an invalid JSON schema)."""


class SchemaError(WorkbenchError, ValueError):
    """A ``response_format`` or a tool's parameters are not a valid JSON schema (or not one the provider takes)."""


class ToolError(WorkbenchError, ValueError):
    """A tool cannot be defined or used: no type hints, an unsupported type, a bad or duplicate name,
    ``run_tools`` without Python functions, ``max_steps`` < 1, an unknown tool in ``tool_choice``."""


class CancelledRunError(WorkbenchError):
    """A run was stopped by the user before it finished."""


class TokensError(WorkbenchError, ValueError):
    """The token lens was asked of an answer without tokens, or to branch where that cannot be done."""


class ProviderError(WorkbenchError):
    """A call to a model provider failed.

    ``retryable`` tells the runner whether trying again can help;
    ``retry_after`` carries the server's ``Retry-After`` in seconds, if any.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        partial_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.partial_text = partial_text


class RateLimitError(ProviderError):
    retryable = True


class ServerError(ProviderError):
    retryable = True


class ProviderTimeoutError(ProviderError):
    retryable = True


class ProviderConnectionError(ProviderError):
    retryable = True


class StreamInterruptedError(ProviderError):
    """The connection broke mid-answer; ``partial_text`` holds what arrived."""

    retryable = True


class TruncatedResponseError(ProviderError):
    """The server closed the connection before the whole response body arrived (not a network outage:
    the server was reached and answered). Retried, as a cut-off answer usually is transient."""

    retryable = True


class MalformedResponseError(ProviderError):
    """The provider answered with something that is not a valid completion."""

    retryable = True


class AuthenticationError(ProviderError):
    """The key was rejected (401/403). Never retried: every call would fail."""


class BadRequestError(ProviderError):
    """The provider refused the request as invalid (400/404/422). Never retried."""


class BatchError(WorkbenchError):
    """A run through a provider's batch API cannot go ahead as asked (``exp.submit()``, ``exp.run(batch=True)``)."""


class BatchUnsupportedError(BatchError):
    """A model's provider has no batch API (the offline model, OpenAI-compatible servers, the mock).

    Raised before any upload; the message names the model and offers the online run (``exp.run()``).
    """


class BatchNotFoundError(BatchError):
    """A batch recorded in the run log is unknown to the provider (deleted, or another account's).

    The fix the message names: point the SDK at the account that created it, or ``job.forget()`` it
    so that its unanswered cells can be submitted again.
    """


class BatchKeyChangedError(BatchError):
    """The API key differs from the one the batch was submitted with (checked before any call).

    The message shows one-way fingerprints of the two keys, never the keys.
    """


class BatchExpiredError(BatchError):
    """A batch reached its completion window before answering a call: the ``error_type`` of that call's row.

    Fix: ``exp.submit(resubmit=True)`` submits only the unanswered cells again.
    """


class BatchPendingError(BatchError):
    """A call is still in a batch that has not ended: the ``error_type`` of its row in a results table.

    Fix: run ``exp.run(batch=True)`` again later; nothing is submitted twice.
    """
