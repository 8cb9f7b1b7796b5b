"""The CLI reference (``docs/cli.md``), generated from ``--help`` of every command.

Regenerate with ``python -m mr_opensearch.cli.reference > docs/cli.md``; a test checks it is current.
Each help text is rendered in a subprocess with a fixed width and no colour, so the output does not
depend on the terminal it was made in.
"""

from __future__ import annotations

import os
import subprocess
import sys

import typer


def command_paths(app: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of ``app`` as argument tuples, depth first, in registration order."""
    paths: list[tuple[str, ...]] = []
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")  # type: ignore[union-attr]
        paths.append((*prefix, name))
    for group in app.registered_groups:
        name = group.name or ""
        paths.append((*prefix, name))
        paths.extend(command_paths(group.typer_instance, (*prefix, name)))
    return paths


def render_help(args: tuple[str, ...]) -> str:
    env = {**os.environ, "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1",
           "COLUMNS": "100"}
    env.pop("FORCE_COLOR", None)
    out = subprocess.run([sys.executable, "-m", "mr_opensearch", *args, "--help"], capture_output=True, text=True,
                         env=env, check=True)
    return "\n".join(line.rstrip() for line in out.stdout.strip().splitlines())


def generate() -> str:
    from mr_opensearch.cli import app

    parts = ["# mros CLI reference", "", "Generated from `--help` by `python -m mr_opensearch.cli.reference > docs/cli.md`;",
             "a test fails when it is out of date.", "", "## mros", "", "```", render_help(()), "```", ""]
    for path in command_paths(app):
        parts += [f"## mros {' '.join(path)}", "", "```", render_help(path), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(generate())
