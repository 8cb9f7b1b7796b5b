"""Retrying cluster requests: which failures get another try, how long to wait, and when to give up.

One policy for every request the serving side sends. :func:`mr_opensearch.cluster.connection.connect` installs
:class:`RetryingTransport` into the ``opensearch-py`` client (whose own ``max_retries`` is then 0, so
retries do not multiply), so ``helpers.streaming_bulk``, ``client.indices.*``, searches and the raw
``transport.perform_request`` calls of ML Commons all get it.

* **Retried failures:** answers 429, 502, 503 and 504; connection errors (reset, refused while a node
  restarts) and timeouts. Everything else (400, 404, TLS errors, ...) is raised at once.
* **Wait:** exponential backoff with jitter (tenacity's ``wait_exponential_jitter``: ``initial_backoff_s``,
  doubling, at most ``max_backoff_s``, plus up to ``jitter_s`` at random), or the answer's
  ``Retry-After`` (delta-seconds or an HTTP date) when that is longer.
* **Budget, per request:** no attempt starts after ``budget_s`` seconds from the first one, and at most
  ``max_attempts`` are made; a ``Retry-After`` longer than what is left of the budget gives up at once.
  Giving up raises :class:`RetriesExhausted` (a :class:`~mr_opensearch.core.errors.MrosError`) that names
  the request, the attempts, the time spent, the last failure and why mros stopped. An attempt in
  flight when the budget runs out still runs to the client's ``--timeout``.
* **Requests that must not be repeated blindly.** A failure is *unambiguous* when the request was not
  carried out: the connection was never made (refused, connect timeout) or the answer was 429 / 503
  (OpenSearch rejects, it does not half-do). Those are retried for every request. A reset after the
  request was sent, a read timeout, 502 and 504 are *ambiguous*: the request may have been carried out.
  Those are retried only for requests that are safe to repeat (:func:`retry_safe`): GET, HEAD, PUT,
  DELETE, and the POSTs whose repetition changes nothing — searches, counts, refresh, ``_aliases``,
  ``_bulk``, because every bulk mros sends indexes documents under their product id (a resent batch
  overwrites, never duplicates), and ML Commons' ``_predict``, ``_deploy`` and ``upload_chunk``
  (:data:`SAFE_POST_ENDPOINTS`). ``_register_meta`` and ``_register`` are not: repeating one
  registers a second model. A PUT that created something and is repeated is answered 400
  ``resource_already_exists_exception``; the caller handles that (``deploy`` checks that the index it
  finds is its own).
* **Several nodes.** With several node URLs the client marks a node that refused the connection or did not
  answer in time as dead for a while, and each attempt goes to a live node. A refused connection is moved
  to the next live node at once, inside the same attempt (:func:`fail_over`: the request was never sent,
  so it is safe whatever it is): a node that is gone costs no backoff while others answer. Ambiguous
  failures (a reset of a request in flight) still follow the rules above, on the next node.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from mr_opensearch.core.errors import MrosError, UsageError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
REFUSED_STATUSES = frozenset({429, 503})
"""Answers that mean the request was not carried out: safe to resend whatever it was."""

SAFE_POST_ENDPOINTS = frozenset({
    "_search", "_msearch", "_count", "_mget", "_bulk", "_refresh", "_flush", "_aliases", "_analyze",
    "_explain", "_field_caps", "_validate",
    # ML Commons: a prediction changes nothing; deploying a deployed model starts a task that finds it
    # deployed; chunk N is stored under the id "<model id>_N", so a resent chunk overwrites itself
    "_predict", "_deploy", "_undeploy", "upload_chunk",
})
"""Path segments (one of the last two) of POSTs that can be repeated without changing the outcome.
Not in it: ``_register_meta`` and ``_register`` of ML Commons (models and model groups): each one
creates a new model (group), so an ambiguous failure of one is not repeated."""

DEFAULT_BUDGET_S = 120.0
DEFAULT_MAX_ATTEMPTS = 20


def retry_safe(method: str, path: str) -> bool:
    """Whether repeating ``method path`` after an ambiguous failure leaves the cluster as one success would."""
    method = method.upper()
    if method in ("GET", "HEAD", "PUT", "DELETE"):
        return True
    if method != "POST":
        return False
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    return any(s in SAFE_POST_ENDPOINTS for s in segments[-2:])


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if absent/invalid."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):  # NaN, inf
        return None
    return max(0.0, seconds)


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def describe(exc: BaseException) -> str:
    """A short name of a failure for messages: ``503 Service Unavailable``, ``connection reset``, ..."""
    from opensearchpy.exceptions import ConnectionError as OsConnectionError
    from opensearchpy.exceptions import ConnectionTimeout

    status = status_of(exc)
    if status is not None:
        error = getattr(exc, "error", "")
        return f"{status} {error}".strip() if isinstance(error, str) else str(status)
    if isinstance(exc, ConnectionTimeout):
        return "timeout (no answer in time)"
    if isinstance(exc, OsConnectionError):
        info = getattr(exc, "info", None)
        text = str(info or exc)
        if _never_sent(exc):
            return "connection refused" if "refused" in text.lower() else f"could not connect ({type(info).__name__})"
        if "reset" in text.lower() or "aborted" in text.lower():
            return "connection reset"
        if "disconnected" in text.lower():
            return "connection closed without an answer"
        return f"connection error ({type(info).__name__ if info is not None else 'unknown'})"
    return f"{type(exc).__name__}: {exc}"


def _never_sent(exc: BaseException) -> bool:
    """The connection was never made (refused, connect timeout): the server did not see the request."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    info = getattr(exc, "info", None)
    return isinstance(info, ConnectTimeoutError | NewConnectionError)


def _refused(exc: BaseException) -> bool:
    """The connection was refused: nothing listens at that address."""
    return _never_sent(exc) and "refused" in str(getattr(exc, "info", None) or exc).lower()


def retryable(exc: BaseException, method: str, path: str) -> bool:
    """Whether ``exc`` from ``method path`` is worth another attempt (see the module docstring)."""
    from opensearchpy.exceptions import ConnectionError as OsConnectionError
    from opensearchpy.exceptions import SSLError

    if isinstance(exc, SSLError):
        return False
    status = status_of(exc)
    if status is not None:
        if status in REFUSED_STATUSES:
            return True
        return status in RETRY_STATUSES and retry_safe(method, path)
    if isinstance(exc, OsConnectionError):
        return _never_sent(exc) or retry_safe(method, path)
    return False


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter, ``Retry-After`` and a per-request budget."""

    budget_s: float = DEFAULT_BUDGET_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 15.0
    jitter_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    on_retry: Callable[[str], None] | None = None
    """Called with a line for a person before each wait (the CLI prints it on stderr unless ``--quiet``)."""
    retry_refused: bool = True
    """Whether a refused connection (nothing listens: a node restarting, or a wrong port) is retried; the
    first ping of :func:`mr_opensearch.cluster.connection.connect` says at once that nothing listens instead."""
    stats: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.budget_s < 0 or self.max_attempts < 1:
            raise UsageError(f"retry budget {self.budget_s} s / {self.max_attempts} attempts: the budget must be "
                             "0 or more seconds and at least 1 attempt", parameters=("budget_s", "max_attempts"))

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(budget_s=0.0, max_attempts=1)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def call(self, send: Callable[[], Any], method: str, path: str) -> Any:
        """``send()`` under the policy; raises :class:`RetriesExhausted` when it gives up on a retryable failure."""
        self._count("requests")
        gave_up: dict[str, str] = {}
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: retryable(exc, method, path)
                                     and (self.retry_refused or not _refused(exc))),
            stop=_StopOnBudget(self, gave_up),
            wait=_WaitBackoffOrRetryAfter(self),
            sleep=self.sleep,
            before_sleep=lambda state: self._before_sleep(state, method, path),
        )
        try:
            return retrying(send)
        except RetryError as err:
            last = err.last_attempt.exception()
            assert last is not None
            self._count("gave_up")
            raise RetriesExhausted(method, path, attempts=err.last_attempt.attempt_number,
                                   seconds=time.monotonic() - retrying.statistics.get("start_time", time.monotonic()),
                                   last=last, reason=gave_up.get("reason", "retry budget spent"),
                                   budget_s=self.budget_s) from last

    def _before_sleep(self, state: RetryCallState, method: str, path: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self._count("retries")
        if exc is not None:
            self._count(f"retried {status_of(exc) or describe(exc)}")
        wait = state.next_action.sleep if state.next_action else 0.0
        line = (f"{method} {path.split('?', 1)[0]}: {describe(exc) if exc else '?'}; retrying in {wait:.1f} s "
                f"(attempt {state.attempt_number + 1} of at most {self.max_attempts})")
        log.debug(line)
        if self.on_retry is not None:
            self.on_retry(line)

    def backoff(self) -> wait_base:
        return wait_exponential_jitter(initial=self.initial_backoff_s, max=self.max_backoff_s, jitter=self.jitter_s)


class _StopOnBudget(stop_base):
    """Stop after ``max_attempts``, after ``budget_s``, or when a ``Retry-After`` exceeds what is left."""

    def __init__(self, policy: RetryPolicy, gave_up: dict[str, str]) -> None:
        self.policy = policy
        self.gave_up = gave_up
        self.attempts = stop_after_attempt(policy.max_attempts)
        self.delay = stop_after_delay(policy.budget_s)

    def __call__(self, state: RetryCallState) -> bool:
        p = self.policy
        if self.attempts(state):
            self.gave_up["reason"] = f"{p.max_attempts} attempts made (the most allowed)"
            return True
        if self.delay(state):
            self.gave_up["reason"] = f"the retry budget of {p.budget_s:g} s is spent"
            return True
        left = p.budget_s - (state.seconds_since_start or 0.0)
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None and after > left:
            self.gave_up["reason"] = (f"the cluster asked to wait {after:g} s (Retry-After), more than the "
                                      f"{max(left, 0.0):.1f} s left of the {p.budget_s:g} s retry budget")
            return True
        return False


class _WaitBackoffOrRetryAfter(wait_base):
    """The longer of the backoff and ``Retry-After``, never past the end of the budget."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.backoff = policy.backoff()

    def __call__(self, state: RetryCallState) -> float:
        wait = float(self.backoff(state))
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            wait = max(wait, float(after))
        left = self.policy.budget_s - (state.seconds_since_start or 0.0)
        return max(0.0, min(wait, left))


class RetriesExhausted(MrosError):
    """A request that kept failing with retryable errors until the policy gave up."""

    def __init__(self, method: str, path: str, *, attempts: int, seconds: float, last: BaseException, reason: str,
                 budget_s: float) -> None:
        self.method, self.path, self.attempts, self.seconds = method, path, attempts, seconds
        self.last, self.reason, self.budget_s = last, reason, budget_s
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(
            f"the cluster did not accept {method} {path.split('?', 1)[0]}: {describe(last)} after {tries} in "
            f"{seconds:.1f} s; gave up because {reason}",
            "check the cluster (`mros opensearch status` for a local node, its logs, its load) and rerun; "
            "{retry_budget_s} SECONDS allows a longer outage", parameters="retry_budget_s")


class RetryAfterConnection:
    """Mixin for an ``opensearch-py`` connection class: a retryable error answer carries ``retry_after``."""

    def perform_request(self, method: str, url: str, params: Any = None, body: Any = None, timeout: Any = None,
                        ignore: Any = (), headers: Any = None) -> Any:
        ignore = tuple(ignore or ())
        status, response_headers, data = super().perform_request(  # type: ignore[misc]
            method, url, params, body, timeout=timeout, ignore=(*ignore, *RETRY_STATUSES), headers=headers)
        if status in RETRY_STATUSES and status not in ignore:
            lowered = {str(k).lower(): v for k, v in dict(response_headers or {}).items()}
            try:
                self._raise_error(status, data, lowered.get("content-type"))  # type: ignore[attr-defined]
            except Exception as exc:
                exc.retry_after = parse_retry_after(lowered.get("retry-after"))  # type: ignore[attr-defined]
                raise
        return status, response_headers, data


def fail_over(send: Callable[[], Any], live_nodes: int) -> Any:
    """``send()``, sent again at once (to the next node: the transport set the refusing one aside) while a
    node refuses the connection and another of the ``live_nodes`` is left; any other failure is raised."""
    from opensearchpy.exceptions import ConnectionError as OsConnectionError

    for _ in range(max(0, live_nodes - 1)):
        try:
            return send()
        except OsConnectionError as exc:
            if not _never_sent(exc):
                raise
            log.debug("a node refused the connection: %s; the next node gets the request", describe(exc))
    return send()


@functools.cache
def connection_class() -> type:
    from opensearchpy import Urllib3HttpConnection

    return type("RetryAfterUrllib3HttpConnection", (RetryAfterConnection, Urllib3HttpConnection), {})


@functools.cache
def transport_class() -> type:
    """``opensearchpy.Transport`` whose every request goes through a :class:`RetryPolicy`.

    Pass ``retry_policy=`` to the ``OpenSearch`` client; its ``max_retries`` is forced to 0."""
    from opensearchpy import Transport

    class RetryingTransport(Transport):
        def __init__(self, hosts: Any, *, retry_policy: RetryPolicy | None = None, **kwargs: Any) -> None:
            kwargs["max_retries"] = 0
            kwargs.setdefault("connection_class", connection_class())
            super().__init__(hosts, **kwargs)
            self.retry_policy = retry_policy or RetryPolicy()

        def perform_request(self, method: str, url: str, params: Any = None, body: Any = None,
                            timeout: Any = None, ignore: Any = (), headers: Any = None) -> Any:
            return self.perform_request_under(self.retry_policy, method, url, params=params, body=body,
                                              timeout=timeout, ignore=ignore, headers=headers)

        def perform_request_under(self, policy: RetryPolicy, method: str, url: str, params: Any = None,
                                  body: Any = None, timeout: Any = None, ignore: Any = (),
                                  headers: Any = None) -> Any:
            """One request under ``policy`` instead of the transport's own (the first ping's short budget)."""
            parent = super().perform_request

            def send() -> Any:
                return parent(method, url, params=params, body=body, timeout=timeout, ignore=ignore, headers=headers)

            return policy.call(lambda: fail_over(send, len(self.connection_pool.connections)), method, url)

    return RetryingTransport

