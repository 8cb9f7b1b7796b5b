"""Turning exceptions into messages and exit codes for the CLI.

A command's error is printed for a person on stderr (``Error: ...`` and ``hint: ...``). When the
command was given ``--json`` the same error is also printed on stdout as one JSON object,
``{"error": ..., "hint": ..., "exit_code": ...}``, so scripts reading stdout always get JSON. Exit
codes: the error's (1 by default), 2 for usage errors (a bad option value found while running).
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
import typer

from mr_opensearch.cli._output import state
from mr_opensearch.errors import MrosError


def report_error(exc: BaseException) -> int:
    """Print ``exc`` for a person and return the exit code to use."""
    if state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, MrosError):
        typer.secho(f"Error: {exc.message}", fg=typer.colors.RED, err=True)
        if exc.hint:
            typer.secho(f"  hint: {exc.hint}", fg=typer.colors.YELLOW, err=True)
        return exc.exit_code
    typer.secho(f"Error: {type(exc).__name__}: {exc}", fg=typer.colors.RED, err=True)
    if not state.debug:
        typer.secho("  hint: rerun with --debug for the full traceback", fg=typer.colors.YELLOW, err=True)
    return 1


USAGE_ERRORS = (typer.BadParameter, click.UsageError)
"""Usage errors a command may raise while it runs (typer's ``BadParameter``; click's for code that uses click)."""


def error_json(exc: BaseException, exit_code: int) -> str:
    """The ``--json`` form of an error: one JSON object."""
    if isinstance(exc, MrosError):
        message, hint = exc.message, exc.hint
    elif isinstance(exc, USAGE_ERRORS):
        message, hint = exc.format_message(), "see --help"
    else:
        message = f"{type(exc).__name__}: {exc}"
        hint = None if state.debug else "rerun with --debug for the full traceback"
    return json.dumps({"error": message, "hint": hint, "exit_code": exit_code})


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for command functions: expected errors exit 1 with a message, not a traceback
    (``--json`` commands also print the error as JSON on stdout)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = state.stdout
        state.stdout = sys.stdout
        as_json = bool(kwargs.get("as_json"))
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.secho("Interrupted.", fg=typer.colors.RED, err=True)
            raise typer.Exit(130) from None
        except USAGE_ERRORS as exc:  # a bad option value found while running: exit 2, in typer's format
            if as_json:
                typer.echo(error_json(exc, 2), file=state.stdout or sys.stdout)
            raise
        except Exception as exc:
            code = report_error(exc)
            if as_json:
                typer.echo(error_json(exc, code), file=state.stdout or sys.stdout)
            raise typer.Exit(code) from None
        finally:
            state.stdout = previous

    return wrapper
