"""One writer per alias: the lock ``mros deploy`` and ``mros rollback`` hold while they write.

The lock is a document ``_id = <alias>`` in the small hidden index ``.mros-locks`` (one shard, created on
first use; OpenSearch 3.5 accepts the name without a deprecation warning when the index is hidden).
Taking it is ``PUT .mros-locks/_create/<alias>`` (``op_type=create``): of two processes, exactly one
gets 201 and the other 409, whatever the timing. The document names its holder -- host, pid (with the
process start time, so a reused pid is not mistaken for the holder), start time, mros version and
command -- and carries a heartbeat that a background thread renews every ``heartbeat_s`` seconds with
``if_seq_no``/``if_primary_term`` (a lost lock is noticed, never overwritten).

A lock left by a process that died (``SIGKILL``, a lost machine) does not block forever. It is *stale*

* when its holder ran on this host and that process is gone, or
* when its heartbeat is older than its ``ttl_s`` (default 60 s; clocks of different hosts are assumed to
  agree within a few seconds).

A stale lock is taken over safely: deleted with the ``if_seq_no``/``if_primary_term`` read with it (so
of two processes taking over, only one deletes it), then created again with ``op_type=create``.
Otherwise the second process refuses with a message naming the holder, or waits (``--wait SECONDS``).

The holder calls :meth:`AliasLock.ensure_held` right before the writes that matter (completion mark,
alias move): if the lock was lost -- taken over because this process stalled past the TTL -- it stops
there, with the alias untouched. ``--dry-run`` takes no lock and writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.version import __version__

LOCK_INDEX = ".mros-locks"
TTL_S = 60.0
HEARTBEAT_S = 10.0

LOCK_INDEX_BODY = {
    "settings": {"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1", "hidden": True}},
    "mappings": {
        "dynamic": False,
        "_meta": {"mros": "deploy locks: one document per alias that an mros deploy or rollback is writing"},
        "properties": {"alias": {"type": "keyword"}, "host": {"type": "keyword"}, "pid": {"type": "long"},
                       "command": {"type": "keyword"}, "heartbeat_at": {"type": "double"}},
    },
}


class LockHeld(MrosError):
    """Another live mros process holds the alias lock."""


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22), None off Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


def _process_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def holder_is_alive(holder: dict[str, Any]) -> bool:
    """Whether the process named by a lock document on *this* host still runs (zombies count as gone)."""
    pid = int(holder.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _process_state(pid) == "Z":
        return False
    started = holder.get("pid_start")
    now_started = _process_start(pid)
    return not (started and now_started and started != now_started)


_HELD_TOKENS: set[str] = set()
"""Tokens of the locks this process holds now: a lock document naming this process with another token was
left by an earlier deploy of this same process that could not delete it (the cluster stopped answering)."""


def stale_reason(holder: dict[str, Any], now: float | None = None) -> str | None:
    """Why the lock document ``holder`` no longer protects anything, or None while its holder lives."""
    token = holder.get("token")
    if (token and holder.get("host") == socket.gethostname() and int(holder.get("pid") or 0) == os.getpid()
            and token not in _HELD_TOKENS):
        return "it was left by an earlier deploy of this process, which no longer holds it"
    now = time.time() if now is None else now
    ttl = float(holder.get("ttl_s") or TTL_S)
    age = now - float(holder.get("heartbeat_at") or 0.0)
    if age > ttl:
        return f"no heartbeat for {age:.0f} s (a lock expires after {ttl:.0f} s without one)"
    if holder.get("host") == socket.gethostname() and not holder_is_alive(holder):
        return f"its process {holder.get('pid')} on this host is gone"
    return None


def describe(holder: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    age = now - float(holder.get("heartbeat_at") or 0.0)
    return (f"{holder.get('command', 'mros')} by pid {holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started_at')} (mros {holder.get('mros_version')}), last heartbeat {age:.0f} s ago")


class AliasLock:
    """The write lock of one alias; use as a context manager or call :meth:`acquire` / :meth:`release`."""

    def __init__(self, client: Any, alias: str, *, command: str = "deploy", ttl_s: float = TTL_S,
                 heartbeat_s: float = HEARTBEAT_S, log: Callable[[str], None] = print) -> None:
        self.client = client
        self.alias = alias
        self.command = command
        self.ttl_s = ttl_s
        self.heartbeat_s = heartbeat_s
        self.log = log
        self.token = uuid.uuid4().hex
        self.lost: str | None = None
        self._version: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")

    # --- the document ---------------------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        return {"alias": self.alias, "token": self.token, "host": socket.gethostname(), "pid": os.getpid(),
                "pid_start": _process_start(os.getpid()), "started_at": self._started_at,
                "mros_version": __version__, "command": self.command, "ttl_s": self.ttl_s,
                "heartbeat_at": time.time()}

    def _ensure_index(self) -> None:
        from opensearchpy.exceptions import RequestError

        if self.client.indices.exists(index=LOCK_INDEX):
            return
        try:
            self.client.indices.create(index=LOCK_INDEX, body=LOCK_INDEX_BODY)
        except RequestError as exc:  # another process created it first
            if "resource_already_exists" not in str(exc.error):
                raise

    # --- taking and giving back -----------------------------------------------------------------------

    def _try_take(self) -> None:
        """One attempt: create the document; a stale holder is removed first; :class:`LockHeld` otherwise."""

        self._ensure_index()
        _HELD_TOKENS.add(self.token)  # before the create: a thread of this process reading it sees a live holder
        try:
            self._take_attempts()
        except BaseException:
            _HELD_TOKENS.discard(self.token)
            raise

    def _take_attempts(self) -> None:
        from opensearchpy.exceptions import ConflictError, NotFoundError

        for _ in range(5):
            try:
                answer = self.client.index(index=LOCK_INDEX, id=self.alias, body=self._document(),
                                           op_type="create", refresh="true")
                self._version = (int(answer["_seq_no"]), int(answer["_primary_term"]))
                return
            except ConflictError:
                pass
            try:
                current = self.client.get(index=LOCK_INDEX, id=self.alias)
            except NotFoundError:
                continue  # released between our create and our read: try again
            holder = current["_source"]
            if holder.get("token") == self.token:  # our create was carried out, its answer lost and resent
                self._version = (int(current["_seq_no"]), int(current["_primary_term"]))
                return
            why = stale_reason(holder)
            if why is None:
                raise LockHeld(
                    f"alias {self.alias!r} is locked by another mros {describe(holder)}",
                    "wait for it to finish and rerun, or pass --wait SECONDS to wait here; a lock whose "
                    "process died is taken over automatically once that process is gone (same host) or "
                    f"after {float(holder.get('ttl_s') or TTL_S):.0f} s without a heartbeat")
            self.log(f"lock: taking over the lock on {self.alias!r} left by {describe(holder)}: {why}")
            with contextlib.suppress(ConflictError, NotFoundError):  # someone else took it over first
                self.client.delete(index=LOCK_INDEX, id=self.alias, if_seq_no=current["_seq_no"],
                                   if_primary_term=current["_primary_term"], refresh="true")
        raise LockHeld(f"alias {self.alias!r}: the lock changed hands five times while mros tried to take it",
                       "another deploy is racing this one; rerun in a moment")

    def acquire(self, wait_s: float = 0.0) -> AliasLock:
        """Take the lock, waiting up to ``wait_s`` seconds for a live holder to release it."""
        from opensearchpy.exceptions import AuthorizationException

        try:
            self._acquire(wait_s)
        except AuthorizationException as exc:
            raise MrosError(f"the cluster refused the deploy lock in {LOCK_INDEX} ({exc.status_code} {exc.error})",
                            f"grant the deploying user create_index, read, write and delete on {LOCK_INDEX} "
                            "(mros keeps one small document per alias there while it writes)") from None
        self._thread = threading.Thread(target=self._beat, name="mros-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _acquire(self, wait_s: float) -> None:
        if wait_s > 0:
            told = False

            def tell(_: Any) -> None:
                nonlocal told
                if not told:
                    self.log(f"lock: waiting up to {wait_s:.0f} s for another deploy of {self.alias!r} to finish")
                    told = True

            retrying = Retrying(stop=stop_after_delay(wait_s), wait=wait_fixed(min(1.0, wait_s)),
                                retry=retry_if_exception_type(LockHeld), before_sleep=tell, reraise=True)
            retrying(self._try_take)
        else:
            self._try_take()

    def _beat(self) -> None:
        from opensearchpy.exceptions import ConflictError, NotFoundError, OpenSearchException

        last_ok = time.monotonic()
        while not self._stop.wait(self.heartbeat_s):
            if self._version is None:
                return
            try:
                answer = self.client.index(index=LOCK_INDEX, id=self.alias, body=self._document(),
                                           if_seq_no=self._version[0], if_primary_term=self._version[1])
                self._version = (int(answer["_seq_no"]), int(answer["_primary_term"]))
                last_ok = time.monotonic()
            except (ConflictError, NotFoundError):
                mine = self._own_version()
                if mine is None:
                    self.lost = "another process took it over"
                    return
                self._version = mine  # the write went through, its answer was lost and the resend conflicted
                last_ok = time.monotonic()
            except (OpenSearchException, MrosError) as exc:  # the cluster is unreachable for a moment (or the
                # retry policy gave up on it): keep trying until the TTL
                if time.monotonic() - last_ok > self.ttl_s:
                    self.lost = f"no heartbeat could be written for {self.ttl_s:.0f} s ({type(exc).__name__})"
                    return

    def _own_version(self) -> tuple[int, int] | None:
        """``(seq_no, primary_term)`` of the lock document when it is still this lock's (same token), else None."""
        from opensearchpy.exceptions import NotFoundError

        try:
            current = self.client.get(index=LOCK_INDEX, id=self.alias)
        except NotFoundError:
            return None
        if current["_source"].get("token") != self.token:
            return None
        return int(current["_seq_no"]), int(current["_primary_term"])

    def ensure_held(self) -> None:
        """Raise unless this process still holds the lock (checked on the cluster, not only locally)."""
        from opensearchpy.exceptions import NotFoundError

        if self.lost is None:
            try:
                current = self.client.get(index=LOCK_INDEX, id=self.alias)
                if current["_source"].get("token") != self.token:
                    self.lost = f"it is now held by {describe(current['_source'])}"
            except NotFoundError:
                self.lost = "its document was deleted"
        if self.lost is not None:
            raise MrosError(f"the lock on alias {self.alias!r} was lost ({self.lost}); this {self.command} stopped "
                            "before moving the alias",
                            "this process stalled longer than the lock's TTL and another one took over; check "
                            f"`mros status --alias {self.alias}`, then rerun")

    def release(self) -> None:
        """Stop the heartbeat and delete the lock document, unless another process has it by now."""
        from opensearchpy.exceptions import ConflictError, NotFoundError, OpenSearchException

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        _HELD_TOKENS.discard(self.token)
        if self._version is None or self.lost is not None:
            return
        try:
            try:
                self.client.delete(index=LOCK_INDEX, id=self.alias, if_seq_no=self._version[0],
                                   if_primary_term=self._version[1], refresh="true")
            except ConflictError:  # a heartbeat moved it on since: delete it at its version if it is still ours
                mine = self._own_version()
                if mine is not None:
                    self.client.delete(index=LOCK_INDEX, id=self.alias, if_seq_no=mine[0], if_primary_term=mine[1],
                                       refresh="true")
        except (ConflictError, NotFoundError):
            pass  # another process took it over, or it is gone already
        except (OpenSearchException, MrosError) as exc:  # the cluster did not answer: logged, so that the error
            # that ended the deploy is not hidden behind this one
            self.log(f"lock: could not release the lock on {self.alias!r} ({type(exc).__name__}); the next deploy "
                     f"takes it over once this process is gone, or after {self.ttl_s:.0f} s without a heartbeat")
        self._version = None

    def __enter__(self) -> AliasLock:
        return self if self._version is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_lock(client: Any, alias: str) -> dict[str, Any] | None:
    """The lock document of ``alias`` (its ``_source``), or None when nobody holds it."""
    from opensearchpy.exceptions import NotFoundError

    try:
        return client.get(index=LOCK_INDEX, id=alias)["_source"]
    except NotFoundError:
        return None
