"""When a deploy lock is stale (:func:`mr_opensearch.deploy.alias_lock.stale_reason`), without a cluster: the
lock documents are written by hand; the real takeover runs in tests/integration/test_deploy_concurrent.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from mr_opensearch.deploy.alias_lock import TTL_S, _process_start, describe, holder_is_alive, stale_reason


def holder(**fields):
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid()),
            "ttl_s": TTL_S, "heartbeat_at": time.time(), "command": "deploy", "started_at": "t0",
            "mros_version": "0.1.0", **fields}


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_live_holder_on_this_host_is_not_stale():
    assert holder_is_alive(holder())
    assert stale_reason(holder()) is None


def test_a_dead_process_on_this_host_makes_the_lock_stale_at_once():
    reason = stale_reason(holder(pid=dead_pid(), pid_start=None))
    assert reason is not None and "on this host is gone" in reason


def test_a_reused_pid_is_not_taken_for_the_holder():
    # our own pid, but the lock records another process start time: the holder is gone
    assert not holder_is_alive(holder(pid_start="1"))


def test_another_host_counts_only_by_its_heartbeat():
    fresh = holder(host="elsewhere", pid=1)
    assert stale_reason(fresh) is None  # pid 1 on another host is not looked at
    old = holder(host="elsewhere", pid=1, heartbeat_at=time.time() - TTL_S - 5)
    assert stale_reason(old).startswith(f"no heartbeat for {TTL_S + 5:.0f} s")


def test_the_holder_is_described_for_a_person():
    text = describe(holder(host="box", pid=42), now=time.time() + 3)
    assert text.startswith("deploy by pid 42 on box, started t0 (mros 0.1.0), last heartbeat 3 s ago")


def test_a_lock_this_process_left_and_no_longer_holds_is_stale_but_one_it_holds_is_not():
    from mr_opensearch.deploy.alias_lock import _HELD_TOKENS

    left = holder(token="left-by-a-deploy-whose-release-failed")
    assert stale_reason(left) == "it was left by an earlier deploy of this process, which no longer holds it"
    _HELD_TOKENS.add("held-now")
    try:
        assert stale_reason(holder(token="held-now")) is None
    finally:
        _HELD_TOKENS.discard("held-now")


def test_a_resent_create_whose_first_answer_was_lost_finds_its_own_lock_and_holds_it():
    """The retry policy resends the lock's create after a lost answer; the resend gets 409 and the document
    it finds is this lock's own (same token): the lock is held, not refused as another deploy's."""
    from opensearchpy.exceptions import ConflictError

    from mr_opensearch.deploy.alias_lock import AliasLock

    class Indices:
        def exists(self, index: str) -> bool:
            return True

    class Client:
        indices = Indices()

        def __init__(self) -> None:
            self.lock: AliasLock | None = None

        def index(self, **kwargs):
            raise ConflictError(409, "version_conflict_engine_exception", {})

        def get(self, index: str, id: str):
            return {"_source": {**holder(), "token": self.lock.token}, "_seq_no": 5, "_primary_term": 1}

    client = Client()
    lock = AliasLock(client, "shop", log=lambda _: None)
    client.lock = lock
    lock._try_take()
    assert lock._version == (5, 1)
