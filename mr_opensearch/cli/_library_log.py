"""Library output of the training commands goes to the run's log file; the console keeps mros's own lines.

``mros train``, ``mros run``, ``mros label train`` and ``mros export`` run inside
:func:`library_output_to`. Unless ``--debug`` is given, while the command runs:

* Python warnings (``warnings.showwarning``) are written to the log file;
* the loggers of the ML libraries (:data:`LIBRARY_LOGGERS`) write to the log file only, and the root
  logger gets the log file as its handler (so a library's bare ``logging.warning`` does not fall back
  to stderr);
* ``sys.stderr`` and ``sys.stdout`` (which the CLI points at stderr while a command runs) are a
  :class:`LibraryStream` writing to the log file, so progress bars and prints of libraries land there.
  Its ``console`` attribute is the real stderr: mros's own progress bars draw there
  (:func:`mr_opensearch.core.console.console_stream`), and :func:`console_log` sends mros's own messages there
  (and copies them into the log file, so the log reads in order).

The log file is opened on the first write: a command that fails on its input before any output
creates no log file (and no run directory). With ``--debug`` nothing is redirected.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

LIBRARY_LOGGERS = ("transformers", "sentence_transformers", "datasets", "huggingface_hub", "torch", "accelerate",
                   "onnxruntime", "urllib3", "filelock")


def run_log_path(directory: Path) -> Path:
    """Where a command writing into ``directory`` keeps its log: ``directory/logs/mros.log``."""
    return Path(directory) / "logs" / "mros.log"


class LibraryStream:
    """A text stream appending to ``path`` (opened on the first write); ``console`` is the real stderr."""

    def __init__(self, path: Path, console: TextIO) -> None:
        self.path, self.console = Path(path), console
        self._file: TextIO | None = None

    def write(self, text: str) -> int:
        if self._file is None:
            if not text:
                return 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # some libraries ask; the console's descriptor keeps them working
        return self.console.fileno()

    @property
    def encoding(self) -> str:
        return "utf-8"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _LibraryLogHandler(logging.StreamHandler):
    """A logging handler writing to the :class:`LibraryStream` (with logger name and level)."""

    def __init__(self, stream: LibraryStream) -> None:
        super().__init__(stream)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


@contextmanager
def _warnings_to(stream: LibraryStream) -> Iterator[None]:
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextmanager
def _loggers_to(stream: LibraryStream) -> Iterator[None]:
    handler = _LibraryLogHandler(stream)
    saved = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate))
        logger.handlers = [handler]
        logger.propagate = False
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, handlers, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate


@contextmanager
def library_output_to(path: Path, debug: bool = False) -> Iterator[LibraryStream | None]:
    """Send library warnings, logging, progress bars and prints to ``path`` while the block runs (not with
    ``debug``); yields the stream (None with ``debug``)."""
    if debug:
        yield None
        return
    stream = LibraryStream(path, sys.stderr)
    previous_out, previous_err = sys.stdout, sys.stderr
    try:
        with _warnings_to(stream), _loggers_to(stream):
            sys.stdout = sys.stderr = stream  # type: ignore[assignment]
            try:
                yield stream
            finally:
                sys.stdout, sys.stderr = previous_out, previous_err
    finally:
        stream.close()


def console_log(log: Callable[[str], None]) -> Callable[[str], None]:
    """Wrap a message function (``info``) so that inside :func:`library_output_to` its lines reach the
    console, and a copy goes to the log file; outside it, ``log`` unchanged."""

    def write(message: str) -> None:
        stream = sys.stderr
        if not isinstance(stream, LibraryStream):
            log(message)
            return
        stream.write(f"mros: {message}\n")
        previous_out, previous_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stream.console, stream.console
        try:
            log(message)
        finally:
            sys.stdout, sys.stderr = previous_out, previous_err

    return write
