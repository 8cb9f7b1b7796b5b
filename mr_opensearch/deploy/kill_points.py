"""Named points of a deploy where a test can kill the process, to prove a rerun converges (a test hook).

``MROS_FAULT_KILL_AT=<phase>`` makes the process ``SIGKILL`` itself when it reaches that phase: no
``finally`` block, no lock release, no flush, exactly what a power cut or the OOM killer does. When the
variable is unset, :func:`reached` is one dictionary lookup. Phases, in the order a deploy reaches them:

client and engine mode (``mr_opensearch.deploy.deploy``)
    ``lock-taken``       the alias lock is held, nothing else written yet
    ``index-created``    the new index exists with ``_meta.complete = false``, no documents
    ``live-blocked``     an incremental deploy set the write block on the live index to clone it
    ``cloned``           an incremental deploy cloned the live index, before the clone's manifest is written
    ``copy-middle``      an incremental deploy wrote about half of the documents that keep their live vector
    ``copied``           an incremental deploy wrote every document that keeps its live vector; nothing
                         embedded yet (``mr_opensearch.deploy.incremental``)
    ``bulk-middle``      about half of the documents still to send are acknowledged
    ``bulk-done``        every document is acknowledged; no refresh, count check or completion mark yet
    ``marked-complete``  ``_meta.complete = true`` is set; the alias has not moved
    ``alias-moved``      the alias is on the new index; pruning and the lock release are still to come
``--in-place`` (``mr_opensearch.deploy.in_place``)
    ``in-place-started`` the manifest records the update under way; nothing of the difference written yet
    ``in-place-middle``  about half of the difference (upserts and deletes) is acknowledged
    ``in-place-written`` the whole difference is acknowledged; no refresh, count check or manifest update yet
engine mode only (``mr_opensearch.deploy.ml_commons``)
    ``chunk-upload``     ``_register_meta`` answered (a REGISTERING model exists), no chunk uploaded yet
    ``model-deploying``  ``_deploy`` answered; its task is being polled

``MROS_FAULT_PAUSE_AT=<phase>`` with ``MROS_FAULT_RESUME_FILE=<path>`` instead makes the process wait at
that phase until the file exists (at most 300 s): a test holds a deploy there, e.g. with the alias lock
taken, while it starts a second one.

Used by ``tests/integration/test_deploy_crash.py`` and ``test_deploy_concurrent.py``; ``benchmarks/deploy_chaos.py`` kills at random times
instead. Not meant for production use.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from mr_opensearch.core.errors import MrosError

ENV = "MROS_FAULT_KILL_AT"
PAUSE_ENV = "MROS_FAULT_PAUSE_AT"
RESUME_FILE_ENV = "MROS_FAULT_RESUME_FILE"
PAUSE_LIMIT_S = 300.0
PHASES = ("lock-taken", "index-created", "live-blocked", "cloned", "copy-middle", "copied", "bulk-middle", "bulk-done", "marked-complete",
          "alias-moved", "in-place-started", "in-place-middle", "in-place-written", "chunk-upload", "model-deploying")


def reached(phase: str) -> None:
    """SIGKILL this process when ``MROS_FAULT_KILL_AT`` names ``phase`` (after a pause there when
    ``MROS_FAULT_PAUSE_AT`` names it); otherwise do nothing."""
    if os.environ.get(PAUSE_ENV) and _wanted(PAUSE_ENV) == phase:
        _pause(phase)
    if not os.environ.get(ENV) or _wanted(ENV) != phase:
        return
    print(f"mros: {ENV}={phase}: killing process {os.getpid()} with SIGKILL", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _wanted(env: str) -> str:
    wanted = os.environ[env]
    if wanted not in PHASES:  # a typo would otherwise never fire and the test would prove nothing
        raise MrosError(f"{env}={wanted!r} names no phase", f"use one of: {', '.join(PHASES)}", exit_code=2)
    return wanted


def _pause(phase: str) -> None:
    resume = os.environ.get(RESUME_FILE_ENV)
    if not resume:
        raise MrosError(f"{PAUSE_ENV} needs {RESUME_FILE_ENV}, the file whose creation ends the pause", exit_code=2)
    print(f"mros: {PAUSE_ENV}={phase}: process {os.getpid()} waits for {resume}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while not os.path.exists(resume) and time.monotonic() < deadline:
        time.sleep(0.05)
