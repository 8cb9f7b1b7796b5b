"""The exception types mros raises for problems a user can fix.

Every expected failure (bad input, missing tool, unreachable cluster, ...) is raised as a
:class:`MrosError` carrying *what went wrong* and *what to do next*. The CLI turns it into a short
message and exit code 1; a traceback is only shown with ``--debug``. A bad argument of a library call is a
:class:`UsageError` (exit code 2).

Library code does not know the command line: where a message or hint names a parameter of the call
(``keep``, ``min_grade``), it writes a placeholder, ``{keep}``, and lists the parameter in ``parameters``.
The library's own text names the parameter in backticks (```keep``` must be at least 1); a front end
renames it with :meth:`MrosError.name_parameters`, the CLI with the option that sets it (``--keep must be
at least 1``). Only the placeholders of listed parameters are replaced, so values put in with an f-string
may hold braces (write the placeholder itself as ``{{keep}}`` there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def library_name(parameter: str) -> str:
    """How the library's own text names a parameter: ```keep```."""
    return f"`{parameter}`"


class MrosError(Exception):
    """A failure the user can act on.

    Args:
        message: what went wrong, naming the input (file, line, URL, coordinates) involved.
        hint: what to do next; shown on its own line.
        exit_code: process exit code used by the CLI (default 1).
        parameters: the parameters of the failing call whose placeholders (``{name}``) ``message`` and
            ``hint`` hold (see the module docstring).
    """

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1, *,
                 parameters: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.parameters = (parameters,) if isinstance(parameters, str) else tuple(parameters)
        self._templates = (message, hint)
        if self.parameters:
            self.name_parameters(library_name)

    def name_parameters(self, name: Callable[[str], str]) -> MrosError:
        """Name each parameter in the message and hint by ``name(parameter)`` (the CLI: its option), rewriting
        them from the texts the error was made with; returns the error itself."""

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: name(m[1]) if m[1] in self.parameters else m[0], text)

        message, hint = self._templates
        self.message = fill(message)
        self.hint = None if hint is None else fill(hint)
        self.args = (self.message,)
        return self

    def __reduce__(self) -> tuple:
        # rebuilt from its attributes, not by calling the class with ``args`` (subclasses take other arguments)
        return _rebuilt, (type(self), dict(self.__dict__), self.args)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(MrosError):
    """A bad argument of a library call (a value out of range, two alternatives given together): exit code 2.

    ``parameters`` names the parameter(s) that are wrong (at least one), whether or not the text holds their
    placeholders; the CLI reports them as the options that set them."""

    def __init__(self, message: str, hint: str | None = None, *, parameters: str | Sequence[str]) -> None:
        if not parameters:
            raise ValueError("a UsageError names the parameter that is wrong")
        super().__init__(message, hint, exit_code=2, parameters=parameters)


def _rebuilt(cls: type[MrosError], state: dict, args: tuple) -> MrosError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = args
    return error
