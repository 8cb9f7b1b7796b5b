"""Turning exceptions into messages and exit codes for the CLI."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

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


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for command functions: expected errors exit 1 with a message, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = state.stdout
        state.stdout = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.secho("Interrupted.", fg=typer.colors.RED, err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            raise typer.Exit(report_error(exc)) from None
        finally:
            state.stdout = previous

    return wrapper
