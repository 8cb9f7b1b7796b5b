"""The one exception type mros raises for problems a user can fix.

Every expected failure (bad input, missing tool, unreachable cluster, ...) is raised as a
:class:`MrosError` carrying *what went wrong* and *what to do next*. The CLI turns it into a short
message and exit code 1; a traceback is only shown with ``--debug``.
"""

from __future__ import annotations


class MrosError(Exception):
    """A failure the user can act on.

    Args:
        message: what went wrong, naming the input (file, line, URL, coordinates) involved.
        hint: what to do next; shown on its own line.
        exit_code: process exit code used by the CLI (default 1).
    """

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message
