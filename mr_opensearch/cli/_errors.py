"""Turning exceptions into messages and exit codes for the CLI.

A command's error is printed for a person on stderr (``Error: ...`` and ``hint: ...``). When the
command line holds ``--json`` the same error is also printed on stdout as one JSON object,
``{"error": ..., "hint": ..., "exit_code": ...}``, so scripts reading stdout always get JSON. Exit
codes: the error's (1 by default); 2 for usage errors, both those click finds while parsing the
command line (unknown option, missing option, a value not among an option's choices) and those a
command raises while it runs (``typer.BadParameter``; a :class:`~mr_opensearch.core.errors.UsageError`, or
another :class:`MrosError` with ``exit_code=2``, printed as ``Error: ...`` / ``hint: ...``).
An optional dependency that is not installed is reported with the extra that provides it
(:mod:`mr_opensearch.core.optional_dependencies`).

Parse errors happen before any command function runs, so :func:`handle_errors` never sees them:
:class:`JsonErrorsGroup`, the class of the root ``mros`` group, prints their JSON form.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from typing import Any

import typer
from typer.core import TyperGroup

from mr_opensearch.cli._options import OUTPUT_OPTIONS
from mr_opensearch.cli._output import command_modes, state
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.optional_dependencies import missing_extra


def as_user_error(exc: BaseException) -> BaseException:
    """``exc``, or the :class:`MrosError` to show instead (a missing optional extra)."""
    if isinstance(exc, ImportError):
        return missing_extra(exc) or exc
    return exc


def report_error(exc: BaseException) -> int:
    """Print ``exc`` for a person and return the exit code to use."""
    if state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    exc = as_user_error(exc)
    if isinstance(exc, MrosError):
        typer.secho(f"Error: {exc.message}", fg=typer.colors.RED, err=True)
        if exc.hint:
            typer.secho(f"  hint: {exc.hint}", fg=typer.colors.YELLOW, err=True)
        return exc.exit_code
    typer.secho(f"Error: {type(exc).__name__}: {exc}", fg=typer.colors.RED, err=True)
    if not state.debug:
        typer.secho("  hint: rerun with --debug for the full traceback", fg=typer.colors.YELLOW, err=True)
    return 1


def is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is click's usage error (exit 2, printed by typer): click's ``UsageError`` or a subclass
    (``typer.BadParameter``, no such option, missing parameter, ...). typer 0.29 ships its own copy of click
    whose ``UsageError`` is not part of typer's public API, so the class is recognised by name, for that copy
    and for click's alike. mros's own :class:`~mr_opensearch.core.errors.UsageError` (exit 2 too) is a
    :class:`MrosError`, printed as one."""
    return not isinstance(exc, MrosError) and any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def error_json(exc: BaseException, exit_code: int) -> str:
    """The ``--json`` form of an error: one JSON object."""
    exc = as_user_error(exc)
    if isinstance(exc, MrosError):
        message, hint = exc.message, exc.hint
    elif is_usage_error(exc):
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "mros"
        message, hint = exc.format_message(), f"see `{command} --help`"
    else:
        message = f"{type(exc).__name__}: {exc}"
        hint = None if state.debug else "rerun with --debug for the full traceback"
    return json.dumps({"error": message, "hint": hint, "exit_code": exit_code})


def wants_json(args: Sequence[str]) -> bool:
    """Whether a command line asks for ``--json`` (options only: not after ``--``)."""
    args = list(args)
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args


class JsonErrorsGroup(TyperGroup):
    """The root ``mros`` group: a usage error of a command line holding ``--json`` (found while parsing or
    raised while running) is also printed as one JSON object on stdout; typer then shows it on stderr and
    exits 2, as for any usage error."""

    json_errors: bool = False

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        self.json_errors = wants_json(args)
        return super().main(args, *rest, **extra)

    @contextlib.contextmanager
    def _usage_errors_as_json(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if self.json_errors and is_usage_error(exc):
                typer.echo(error_json(exc, 2))
            raise

    def make_context(self, info_name: str | None, args: list[str], parent: typer.Context | None = None,
                     **extra: Any) -> typer.Context:
        with self._usage_errors_as_json():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: typer.Context) -> Any:
        with self._usage_errors_as_json():
            return super().invoke(ctx)


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Under ``--quiet``: library chatter printed to stdout is dropped, warnings are not shown, and log records
    below ERROR are not emitted; without it, chatter goes to stderr (stdout is for results only)."""
    if not state.quiet:
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


# library parameter -> the command's parameter (its option) where the names differ
CLI_PARAMETER_OF = {"text_fields": "text_field", "lock_wait": "wait", "retry_budget_s": "retry_budget"}


def option_of(command: Any, parameter: str) -> str:
    """The option that sets a library ``parameter`` (:class:`MrosError`'s ``parameters``): the command's own
    (``--min-grade`` for ``min_grade``), else the usual spelling of mros options."""
    name = CLI_PARAMETER_OF.get(parameter, parameter)
    for param in getattr(command, "params", ()):
        if param.name == name and param.opts:
            return next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
    return "--" + name.replace("_", "-")


def named_for_the_cli(exc: MrosError, command: Any = None) -> MrosError:
    """``exc`` with the parameters its message and hint name written as the options of ``command`` (a click
    command; None: the usual spelling), as the CLI prints it."""
    return exc.name_parameters(lambda parameter: option_of(command, parameter)) if exc.parameters else exc


_CONTEXT = "_mros_context"


def _command_signature(func: Callable[..., Any]) -> tuple[inspect.Signature, set[str], str | None]:
    """``func``'s signature with the output-mode options it does not declare and a context parameter added;
    the names added, and the name of the context parameter."""
    signature = inspect.signature(func, eval_str=True)
    params = list(signature.parameters.values())
    context = next((p.name for p in params if isinstance(p.annotation, type) and issubclass(p.annotation, typer.Context)),
                   None)
    added = {name for name in OUTPUT_OPTIONS if name not in signature.parameters}
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=alias)
               for name, alias in OUTPUT_OPTIONS.items() if name in added]
    if context is None:
        context = _CONTEXT
        added.add(context)
        params.append(inspect.Parameter(context, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    return signature.replace(parameters=params), added, context


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on a closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.__stdout__.fileno())
    os.close(devnull)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """The wrapper of every command function.

    - Output modes: adds the options of :data:`~mr_opensearch.cli._options.OUTPUT_OPTIONS` that ``func`` does
      not declare (so ``--json``, ``--quiet``, ``--no-progress`` and ``--debug`` also work after the command
      name) and sets ``state`` from them, and from those ``func`` declares, while it runs.
    - Errors: expected errors exit 1 (or their own exit code) with a message, not a traceback (under ``--json``
      also as JSON on stdout); the parameters an error names (:class:`MrosError`'s ``parameters``) are named
      as the command's options (:func:`option_of`).

    While the command runs, ``sys.stdout`` is not the real stdout (see :func:`_quiet_libraries`); results go
    there through ``_output.result``."""
    signature, added, context_name = _command_signature(func)

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get(context_name)
        modes = {name: bool(kwargs.get(name)) for name in OUTPUT_OPTIONS}
        for name in added:
            kwargs.pop(name, None)
        previous = state.stdout
        state.stdout = sys.stdout
        try:
            with command_modes(**modes):
                try:
                    with _quiet_libraries():
                        return func(*args, **kwargs)
                except typer.Exit:
                    raise
                except KeyboardInterrupt:
                    typer.secho("Interrupted.", fg=typer.colors.RED, err=True)
                    raise typer.Exit(130) from None
                except BrokenPipeError:  # `mros status | head`: the reader left; nothing more to say to it
                    _stdout_to_devnull()
                    raise typer.Exit(0) from None
                except Exception as exc:
                    if is_usage_error(exc):  # exit 2 in typer's format; JsonErrorsGroup prints the --json form
                        raise
                    if isinstance(exc, MrosError):
                        named_for_the_cli(exc, ctx.command if ctx is not None else None)
                    code = report_error(exc)
                    if state.json:
                        typer.echo(error_json(exc, code), file=state.stdout or sys.stdout)
                    raise typer.Exit(code) from None
        finally:
            state.stdout = previous

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    return wrapper
