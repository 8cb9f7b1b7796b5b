"""Output modes shared by all commands: human (default), ``--json`` and ``--quiet`` (and ``--no-progress``,
``--debug``); the options themselves are in :mod:`mr_opensearch.cli._options`.

The rule of ``--quiet`` (the same for every command, see docs/cli.md): stdout holds only the result's key
values, one per line, fields separated by tabs (:func:`key_values`): the path of what the command wrote,
the index or URL it acted on, or ``name<TAB>value`` rows for measurements. No progress bars, no info lines
and no library chatter on stderr; errors are still printed there. ``--json`` wins over ``--quiet``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import typer


@dataclass
class OutputState:
    debug: bool = False
    quiet: bool = False
    json: bool = False
    progress: bool = True
    # Where results go. While a command runs, sys.stdout is pointed at stderr so that chatter from
    # libraries (training logs, warnings printed with print) never mixes with --json output.
    stdout: TextIO | None = None


def _progress_by_environment() -> bool:
    return os.environ.get("MROS_NO_PROGRESS", "") in ("", "0")


state = OutputState(progress=_progress_by_environment())


def set_modes(*, as_json: bool, quiet: bool, no_progress: bool, debug: bool) -> None:
    """The output modes given before the command name (the root ``mros`` group), for the whole command line."""
    state.json = as_json
    state.quiet = quiet
    state.debug = debug
    state.progress = _progress_by_environment() and not no_progress


@contextlib.contextmanager
def command_modes(*, as_json: bool, quiet: bool, no_progress: bool, debug: bool) -> Iterator[None]:
    """The output modes given after the command name, added to those given before it while the command runs
    (either place has the same effect); library progress bars are hidden when these modes hide progress."""
    saved = (state.json, state.quiet, state.debug, state.progress)
    shown = show_progress()
    state.json = state.json or as_json
    state.quiet = state.quiet or quiet
    state.debug = state.debug or debug
    if no_progress:
        state.progress = False
    put_back = hide_library_progress() if shown and not show_progress() else None
    try:
        yield
    finally:
        state.json, state.quiet, state.debug, state.progress = saved
        if put_back is not None:
            put_back()


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
