"""Output modes shared by all commands: human (default), ``--json`` and ``--quiet``.

The rule of ``--quiet`` (the same for every command, see docs/cli.md): stdout holds only the result's key
values, one per line, fields separated by tabs (:func:`key_values`): the path of what the command wrote,
the index or URL it acted on, or ``name<TAB>value`` rows for measurements. No progress bars, no info lines
and no library chatter on stderr; errors are still printed there. ``--json`` wins over ``--quiet``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
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


def key_values(*rows: Any) -> None:
    """The ``--quiet`` output: each row on its own line; a row that is a tuple or list is joined by tabs."""
    for row in rows:
        result("\t".join(str(field) for field in row) if isinstance(row, tuple | list) else str(row))


def emit_json(data: Any) -> None:
    result(json.dumps(data, indent=2, sort_keys=True, default=str))


def info(message: str) -> None:
    """A human message on stderr, silenced by ``--quiet``."""
    if not state.quiet:
        typer.echo(message, err=True)


def hide_library_progress() -> Callable[[], None]:
    """Turn off the progress bars libraries draw themselves (transformers' "Loading weights", Hugging Face
    downloads, any tqdm): by environment for libraries imported later, by their own switch for those already
    imported (nothing is imported here). Returns what puts them back (run when the command ends, so that a
    process running several commands, as tests do, keeps its settings)."""
    saved = {name: os.environ.get(name) for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    restore: list[Callable[[], None]] = []
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        if not are_progress_bars_disabled():
            disable_progress_bars()
            restore.append(enable_progress_bars)
    if "transformers" in sys.modules:
        from transformers.utils.logging import (
            disable_progress_bar,
            enable_progress_bar,
            is_progress_bar_enabled,
        )

        if is_progress_bar_enabled():
            disable_progress_bar()
            restore.append(enable_progress_bar)

    def put_back() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for undo in restore:
            undo()

    return put_back


def show_progress() -> bool:
    """Whether progress bars should be drawn (off with ``--no-progress`` or ``MROS_NO_PROGRESS=1``)."""
    return state.progress and not state.quiet
