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


CONVENTIONS = """\
## Conventions (every command)

- **Results on stdout, everything else on stderr.** Progress bars, info lines and library chatter go to
  stderr (or nowhere); errors are printed on stderr as `Error: ...` with a `hint: ...` line.
- **Exit codes.** 0 on success; 1 for an error (bad input, unreachable cluster, ...); 2 for a usage error:
  an unknown option, a missing option or argument, a value outside an option's range or choices (found while
  parsing the command line or while running); 130 when interrupted.
- **`--json`** (every command that has a result): the result is one JSON object on stdout. An error of a
  command line holding `--json`, usage errors included, is also one JSON object on stdout,
  `{"error": ..., "hint": ..., "exit_code": ...}`, with the same non-zero exit code. `--json` wins over
  `--quiet`.
- **Output modes before or after the command name.** `--json`, `--quiet` / `-q`, `--no-progress` and
  `--debug` are options of `mros` and of every command: `mros -q report RUN` and `mros report RUN -q` are
  the same command line.
- **`--quiet` / `-q`**: stdout holds only the result's key values, one per line, fields separated by tabs;
  no progress bars and no info lines (stderr stays empty unless there is an error). The key values of each
  command:

  | command | `--quiet` prints |
  |---|---|
  | `train` | the run directory |
  | `eval --run` | `split<TAB>model<TAB>nDCG@10`, one row per split and model |
  | `export` | the ML Commons zip |
  | `report` | the report's index.html |
  | `run` | the report's index.html |
  | `deploy` | the index the alias points to (`--dry-run`: `METHOD<TAB>path`, one row per request) |
  | `search` | `product_id<TAB>score<TAB>grade`, one row per hit |
  | `eval --alias` | `mode<TAB>nDCG@10`, one row per mode; then the saved settings file with `--tune` |
  | `rollback` | the index the alias points to now |
  | `status` | the live indices of the alias |
  | `opensearch up`, `opensearch status` | `url<TAB>health` (nothing when the node is down: exit 1) |
  | `opensearch down` | the URL of the stopped node (nothing when none was running) |
  | `opensearch logs` | the log lines |
  | `label train` | the labeler directory |
  | `label evaluate` | `accuracy`, `within1_accuracy`, `macro_f1` rows: `name<TAB>value` |
  | `label apply` | the output file |
  | `label simulate-engagement` | the engagement log (then the noisy labels and their true grades with `--noisy-out`) |
  | `label audit` | the corrected labels, then the audit report |

- **Renamed commands** keep their old name for one release, with a `notice:` line on stderr (not under
  `--quiet`): `mros evaluate` is `mros eval --run`.
- **Choices.** Enumerated options (`--mode`, `--embedding`, `--split`, `--signal`, `--package`, ...) list their
  values in `--help` and refuse any other (exit 2); `eval --modes` takes a comma-separated subset.
- **Overrides are validated like the config file.** An option that overrides a config field (`--base`,
  `--epochs`, `--batch-size`, `--data`, ...) is checked with the whole config, and a bad value gets the
  message the same value gets in the file, naming `the command-line options` instead of the file.
- **Optional extras.** A command that needs an optional dependency that is not installed says which extra
  provides it and how to install it, e.g. `this command needs the `train` extra` with
  `hint: pip install 'mros[train]'` (exit 1).
"""


def generate() -> str:
    from mr_opensearch.cli import app

    parts = ["# mros CLI reference", "", "Generated from `--help` by `python -m mr_opensearch.cli.reference > docs/cli.md`;",
             "a test fails when it is out of date.", "", CONVENTIONS, "## mros", "", "```", render_help(()), "```", ""]
    from mr_opensearch.cli._json_fields import markdown

    for path in command_paths(app):
        parts += [f"## mros {' '.join(path)}", "", "```", render_help(path), "```", ""]
        if table := markdown(" ".join(path)):
            parts += [table]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(generate())
