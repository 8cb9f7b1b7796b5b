"""The retry policy without a cluster: which failures are retried for which requests, ``Retry-After``
parsing, the wait (backoff or Retry-After, capped by the budget), giving up by attempts, by time and by a
Retry-After beyond the budget; the client against a closed port and against a port that never answers.

The failures fed to :meth:`RetryPolicy.call` are the exception objects opensearch-py raises (built here
the way its connection class builds them); the real answers of a real node through the fault proxy are in
``tests/integration/test_faults.py``."""

from __future__ import annotations

import email.utils
import socket
import time
from typing import Any

import pytest
from opensearchpy.exceptions import (
    ConnectionError,
    ConnectionTimeout,
    NotFoundError,
    SSLError,
    TransportError,
)
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from mr_opensearch.cli._errors import named_for_the_cli
from mr_opensearch.cluster.connection import ClusterConfig, connect
from mr_opensearch.cluster.retry_policy import (
    RetriesExhausted,
    RetryPolicy,
    describe,
    parse_retry_after,
    retry_safe,
    retryable,
    transport_class,
)
from mr_opensearch.core.errors import MrosError


def status_error(status: int, retry_after: float | None = None) -> TransportError:
    exc = TransportError(status, "injected", {"status": status})
    exc.retry_after = retry_after  # type: ignore[attr-defined]
    return exc


def refused() -> ConnectionError:
    return ConnectionError("N/A", "refused", NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]


def reset() -> ConnectionError:
    return ConnectionError("N/A", "reset", ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


def read_timeout() -> ConnectionTimeout:
    return ConnectionTimeout("TIMEOUT", "read timed out", ReadTimeoutError(None, "/", "timed out"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path", "safe"), [
    ("GET", "/_cluster/health", True),
    ("HEAD", "/idx", True),
    ("PUT", "/idx/_mapping", True),
    ("DELETE", "/idx", True),
    ("POST", "/_bulk", True),
    ("POST", "/idx/_search?size=3", True),
    ("POST", "/_msearch", True),
    ("POST", "/idx/_refresh", True),
    ("POST", "/_aliases", True),
    ("POST", "/_plugins/_ml/models/abc/_predict", True),
    ("POST", "/_plugins/_ml/models/abc/upload_chunk/3", True),
    ("POST", "/_plugins/_ml/models/_register_meta", False),
    ("POST", "/_plugins/_ml/models/_register", False),
    ("POST", "/_plugins/_ml/model_groups/_register", False),
    ("POST", "/idx/_doc", False),
    ("PATCH", "/idx", False),
])
def test_which_requests_are_safe_to_repeat(method, path, safe):
    assert retry_safe(method, path) is safe


@pytest.mark.parametrize(("exc", "safe_request", "unsafe_request"), [
    (status_error(429), True, True),       # rejected: not carried out, any request may be resent
    (status_error(503), True, True),
    (status_error(502), True, False),      # a gateway's answer: the request may have been carried out
    (status_error(504), True, False),
    (refused(), True, True),               # never reached the server
    (reset(), True, False),                # sent, answer lost
    (read_timeout(), True, False),
    (status_error(400), False, False),
    (NotFoundError(404, "index_not_found_exception", {}), False, False),
    (SSLError("N/A", "bad certificate", None), False, False),
    (ValueError("not a cluster failure"), False, False),
])
def test_which_failures_are_retried(exc, safe_request, unsafe_request):
    assert retryable(exc, "POST", "/_bulk") is safe_request
    assert retryable(exc, "POST", "/_plugins/_ml/models/_register_meta") is unsafe_request


def test_failures_are_named_for_people():
    assert describe(refused()) == "connection refused"
    assert describe(reset()) == "connection reset"
    assert describe(read_timeout()).startswith("timeout")
    assert describe(status_error(503)) == "503 injected"


def test_retry_after_is_parsed_from_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


class Script:
    """A request that fails with the given exceptions, then answers ``"ok"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_retried_failures_then_success_with_exponential_backoff():
    sleeps: list[float] = []
    policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=3.0, jitter_s=0.0, sleep=sleeps.append)
    send = Script(status_error(503), reset(), refused(), status_error(429))
    assert policy.call(send, "POST", "/_bulk") == "ok"
    assert send.calls == 5
    assert sleeps == [1.0, 2.0, 3.0, 3.0]  # doubling, capped at max_backoff_s
    assert policy.stats["retries"] == 4


def test_jitter_stays_within_its_bound():
    sleeps: list[float] = []
    policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=10, jitter_s=0.5, sleep=sleeps.append)
    policy.call(Script(*[status_error(503)] * 6), "GET", "/")
    assert len(sleeps) == 6
    assert all(min(10, 0.5 * 2**i) <= s <= min(10, 0.5 * 2**i + 0.5) for i, s in enumerate(sleeps))
    assert len(set(sleeps)) > 1


def test_retry_after_is_waited_when_longer_than_the_backoff():
    sleeps: list[float] = []
    policy = RetryPolicy(initial_backoff_s=0.1, jitter_s=0.0, sleep=sleeps.append)
    assert policy.call(Script(status_error(429, retry_after=7.0), status_error(503, retry_after=0.0)), "GET", "/") == "ok"
    assert sleeps == [7.0, 0.2]


def test_unsafe_request_is_not_repeated_after_an_ambiguous_failure():
    sleeps: list[float] = []
    policy = RetryPolicy(sleep=sleeps.append)
    send = Script(reset())
    with pytest.raises(ConnectionError):
        policy.call(send, "POST", "/_plugins/_ml/models/_register_meta")
    assert send.calls == 1 and sleeps == []
    # but one that never reached the server is resent
    send = Script(refused(), status_error(429))
    assert policy.call(send, "POST", "/_plugins/_ml/models/_register_meta") == "ok"
    assert send.calls == 3


def test_other_errors_pass_through_at_once():
    policy = RetryPolicy(sleep=lambda s: pytest.fail("no wait expected"))
    send = Script(NotFoundError(404, "index_not_found_exception", {}))
    with pytest.raises(NotFoundError):
        policy.call(send, "GET", "/missing/_search")
    assert send.calls == 1


def test_gives_up_after_max_attempts_with_a_clear_message():
    policy = RetryPolicy(max_attempts=3, sleep=lambda s: None)
    send = Script(*[status_error(503)] * 10)
    with pytest.raises(RetriesExhausted) as info:
        policy.call(send, "POST", "/_bulk")
    assert send.calls == 3
    err = info.value
    assert isinstance(err, MrosError) and err.exit_code == 1
    assert err.attempts == 3 and isinstance(err.last, TransportError)
    assert "POST /_bulk: 503 injected after 3 attempts" in err.message
    assert "3 attempts made" in err.message and "`retry_budget_s`" in (err.hint or "")
    assert "--retry-budget" in (named_for_the_cli(err).hint or "")  # as the CLI prints it


def test_gives_up_when_the_time_budget_is_spent():
    policy = RetryPolicy(budget_s=0.6, initial_backoff_s=0.1, max_backoff_s=0.1, jitter_s=0.0)
    send = Script(*[reset()] * 100)
    start = time.monotonic()
    with pytest.raises(RetriesExhausted) as info:
        policy.call(send, "GET", "/_cluster/health")
    elapsed = time.monotonic() - start
    assert 0.55 <= elapsed < 1.5
    assert 3 <= send.calls <= 8
    assert "retry budget of 0.6 s is spent" in info.value.message


def test_a_retry_after_beyond_the_budget_gives_up_at_once():
    sleeps: list[float] = []
    policy = RetryPolicy(budget_s=10, sleep=sleeps.append)
    send = Script(status_error(429, retry_after=60.0))
    with pytest.raises(RetriesExhausted) as info:
        policy.call(send, "POST", "/_bulk")
    assert send.calls == 1 and sleeps == []
    assert "asked to wait 60 s (Retry-After), more than the" in info.value.message
    assert "left of the 10 s retry budget" in info.value.message


def test_the_wait_never_runs_past_the_budget():
    sleeps: list[float] = []
    policy = RetryPolicy(budget_s=1.0, initial_backoff_s=5.0, jitter_s=0.0, sleep=sleeps.append)
    with pytest.raises(RetriesExhausted):
        policy.call(Script(*[status_error(503)] * 100), "GET", "/")
    assert sleeps and all(s <= 1.0 for s in sleeps)


def test_an_invalid_budget_is_a_usage_error():
    with pytest.raises(MrosError) as info:
        RetryPolicy(max_attempts=0)
    assert info.value.exit_code == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_client_retries_a_refused_connection_until_the_budget_is_spent():
    from opensearchpy import OpenSearch

    lines: list[str] = []
    policy = RetryPolicy(budget_s=1.5, initial_backoff_s=0.1, max_backoff_s=0.4, on_retry=lines.append)
    client = OpenSearch(hosts=[f"http://127.0.0.1:{free_port()}"], transport_class=transport_class(),
                        retry_policy=policy, timeout=5)
    assert client.transport.max_retries == 0  # opensearch-py's own retries are off: no multiplication
    start = time.monotonic()
    with pytest.raises(RetriesExhausted) as info:
        client.cluster.health()
    assert 1.4 <= time.monotonic() - start < 3.0
    assert info.value.attempts >= 3 and "connection refused" in info.value.message
    assert lines and lines[0].startswith("GET /_cluster/health: connection refused; retrying in")


def test_connect_to_a_port_that_accepts_and_never_answers_fails_within_the_connect_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(MrosError) as info:
            connect(ClusterConfig(connect_timeout=2.0, timeout=60.0), url)
        elapsed = time.monotonic() - start
    assert 1.9 <= elapsed < 5.0, elapsed
    assert f"OpenSearch at {url} did not answer within 2s" in info.value.message
    assert "raise opensearch.connect_timeout" in str(info.value.hint)


def test_connect_to_a_closed_port_fails_within_the_connect_timeout():
    start = time.monotonic()
    with pytest.raises(MrosError) as info:
        connect(ClusterConfig(connect_timeout=1.0), f"http://127.0.0.1:{free_port()}")
    assert time.monotonic() - start < 3.0
    assert "connection refused" in info.value.message


class FailingTransport:
    """``client.transport`` of ML Commons' calls: every request fails with ``failure``."""

    def __init__(self, failure: BaseException) -> None:
        self.failure = failure
        self.calls = 0

    def perform_request(self, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
        self.calls += 1
        raise self.failure


def test_ml_commons_does_not_repeat_a_registration_whose_answer_was_lost():
    from types import SimpleNamespace

    from mr_opensearch.deploy import ml_commons

    transport = FailingTransport(reset())
    with pytest.raises(MrosError, match="whether it took effect is unknown") as info:
        ml_commons.call(SimpleNamespace(transport=transport), "POST", "/_plugins/_ml/models/_register_meta", {})
    assert transport.calls == 1
    assert "found by its content hash" in (info.value.hint or "")


class PolicyTransport(FailingTransport):
    """``client.transport`` of a client from ``connect()``: every request goes through ``policy`` (as
    ``RetryingTransport`` does), and every attempt fails with ``failure``."""

    def __init__(self, failure: BaseException, policy: RetryPolicy) -> None:
        super().__init__(failure)
        self.policy = policy

    def perform_request(self, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
        return self.policy.call(lambda: FailingTransport.perform_request(self, method, path, body, headers),
                                method, path)


def test_under_the_policy_ml_commons_sends_a_lost_registration_once_and_says_so():
    from types import SimpleNamespace

    from mr_opensearch.deploy import ml_commons

    transport = PolicyTransport(reset(), RetryPolicy(max_attempts=5, sleep=lambda _: None))
    with pytest.raises(MrosError, match="whether it took effect is unknown"):
        ml_commons.call(SimpleNamespace(transport=transport), "POST", "/_plugins/_ml/models/_register_meta", {})
    assert transport.calls == 1


def test_under_the_policy_ml_commons_adds_no_retries_of_its_own():
    """The policy's attempts are the only ones; when it gives up, its RetriesExhausted reaches the caller."""
    from types import SimpleNamespace

    from mr_opensearch.deploy import ml_commons

    transport = PolicyTransport(status_error(503), RetryPolicy(max_attempts=4, sleep=lambda _: None))
    with pytest.raises(RetriesExhausted, match="after 4 attempts"):
        ml_commons.call(SimpleNamespace(transport=transport), "POST", "/_plugins/_ml/models/_register_meta", {})
    assert transport.calls == 4
