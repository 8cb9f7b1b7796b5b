"""Output modes shared by all commands: human (default), ``--json`` and ``--quiet``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import typer


@dataclass
class OutputState:
    debug: bool = False
    quiet: bool = False
    progress: bool = True
    # Where results go. While a command runs, sys.stdout is pointed at stderr so that chatter from
    # libraries (training logs, warnings printed with print) never mixes with --json output.
    stdout: TextIO | None = None


state = OutputState(progress=os.environ.get("MROS_NO_PROGRESS", "") in ("", "0"))


def result(text: str) -> None:
    """Print a command's result on the real standard output."""
    typer.echo(text, file=state.stdout or sys.stdout)


def emit_json(data: Any) -> None:
    result(json.dumps(data, indent=2, sort_keys=True, default=str))


def info(message: str) -> None:
    """A human message on stderr, silenced by ``--quiet``."""
    if not state.quiet:
        typer.echo(message, err=True)


def show_progress() -> bool:
    """Whether progress bars should be drawn (off with ``--no-progress`` or ``MROS_NO_PROGRESS=1``)."""
    return state.progress and not state.quiet
