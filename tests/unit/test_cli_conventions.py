"""One CLI convention for every command (issue #20, point 5), tried through the real CLI
(``typer.testing.CliRunner`` on ``mr_opensearch.cli.app``; a subprocess where a module must be missing):

- a missing optional dependency names the extra and the ``pip install`` that fixes it (exit 1);
- usage errors exit 2, and with ``--json`` on the command line they are one JSON object on stdout, also
  those click finds while parsing (unknown option, missing option, a value outside the choices);
- ``--json`` on every command;
- ``--quiet``: the result's key values on stdout, nothing on stderr on success;
- the output modes (``--json``, ``--quiet``, ``--no-progress``, ``--debug``) before or after the command name,
  with the same effect;
- ``mros eval``: a trained run (``--run``) or the live index (``--alias``), exactly one; ``mros evaluate`` is its
  old name, with a notice;
- library errors name parameters, the CLI the options that set them;
- enumerated options are enums: the choices are in ``--help``, another value exits 2;
- config overrides given as options are validated like the config file, with the file's message.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
import typing
import warnings
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.cli.reference import command_paths

runner = CliRunner(env={"COLUMNS": "250"})
ROOT = Path(__file__).resolve().parents[2]
LABELS = "query,product_uid,grade\ndrill,1,exact\ndrill,2,irrelevant\nlamp,2,exact\nsink,3,partial\n"
PRODUCTS = "product_uid,product_title\n1,cordless drill\n2,white lamp\n3,kitchen sink\n"


def _leaf_commands() -> list[tuple[str, ...]]:
    paths = command_paths(app)
    return [p for p in paths if not any(len(q) > len(p) and q[: len(p)] == p for q in paths)]


LEAVES = _leaf_commands()


def _command(path: tuple[str, ...]) -> typing.Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _json(stdout: str) -> dict:
    payload = json.loads(stdout)  # exactly one JSON document: json.loads refuses trailing text
    assert isinstance(payload, dict)
    return payload


# --- a missing optional dependency names its extra ------------------------------------------------------------


def _without(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter where ``import <module>`` fails as if the package were not installed."""
    code = (f"import sys; sys.modules[{module!r}] = None; from mr_opensearch.cli import app; "
            "app(sys.argv[1:], prog_name='mros')")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "250"}, timeout=300)


@pytest.mark.parametrize(("module", "args"), [
    ("pandas", ["label", "simulate-engagement", "--labels", "labels.csv", "--out", "log.csv"]),
    ("torch", ["train", "--data", ".", "--out", "run"]),
    ("sentence_transformers", ["export", "--model", "model", "--out", "onnx"]),
], ids=["pandas-label-simulate", "torch-train", "sentence-transformers-export"])
def test_a_missing_extra_names_the_pip_install(tmp_path: Path, module: str, args: list[str]):
    (tmp_path / "labels.csv").write_text(LABELS)
    (tmp_path / "products.csv").write_text(PRODUCTS)
    (tmp_path / "judgments.csv").write_text("query,product_uid,relevance\ndrill,1,3\nlamp,2,2\nsink,3,1\n")
    (tmp_path / "model").mkdir()
    done = _without(module, args, tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"this command needs the `train` extra: the module {module!r} is not installed" in done.stderr
    assert "hint: pip install 'mros[train]'" in done.stderr
    assert "ModuleNotFoundError" not in done.stderr and "Traceback" not in done.stderr
    as_json = _without(module, [*args, "--json"], tmp_path)
    assert as_json.returncode == 1
    assert _json(as_json.stdout) == {"error": f"this command needs the `train` extra: the module {module!r} is "
                                     "not installed", "hint": "pip install 'mros[train]'", "exit_code": 1}
    assert not (tmp_path / "log.csv").exists() and not (tmp_path / "run" / "model").exists()
    assert not list((tmp_path / "onnx").glob("*")) if (tmp_path / "onnx").exists() else True


def test_the_extras_table_names_only_extras_of_the_package():
    from mr_opensearch.core.optional_dependencies import EXTRA_OF_MODULE

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_OF_MODULE.values()) <= set(extras)
    assert {"torch", "pandas", "sentence_transformers", "testcontainers"} <= set(EXTRA_OF_MODULE)


def test_an_import_error_of_a_module_outside_the_extras_is_not_blamed_on_one():
    from mr_opensearch.core.optional_dependencies import missing_extra

    assert missing_extra(ModuleNotFoundError("No module named 'mr_opensearch.nope'", name="mr_opensearch.nope")) is None
    error = missing_extra(ModuleNotFoundError("No module named 'sklearn.metrics'", name="sklearn.metrics"))
    assert error is not None and error.hint == "pip install 'mros[train]'" and error.exit_code == 1


# --- --json on every command, and usage errors as JSON ---------------------------------------------------------


def test_the_command_list_is_complete():
    assert {" ".join(p) for p in LEAVES} >= {
        "train", "evaluate", "export", "report", "run", "deploy", "rollback", "status", "search", "eval",
        "opensearch up", "opensearch status", "opensearch down", "opensearch logs", "label train",
        "label evaluate", "label apply", "label simulate-engagement", "label audit"}


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_every_command_has_json(path: tuple[str, ...]):
    options = {opt for param in _command(path).params for opt in param.opts}
    assert "--json" in options


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_an_unknown_option_with_json_is_a_json_error_exit_2(path: tuple[str, ...]):
    result = runner.invoke(app, [*path, "--json", "--no-such-option"])
    assert result.exit_code == 2, result.output
    payload = _json(result.stdout)
    assert payload["exit_code"] == 2 and "No such option: --no-such-option" in payload["error"]
    assert payload["hint"] == f"see `mros {' '.join(path)} --help`"
    assert "No such option" in result.stderr  # the person still gets typer's message on stderr


@pytest.mark.parametrize(("args", "words"), [
    (["search", "--json"], "Missing argument 'QUERY'"),
    (["deploy", "--catalog", "c.csv", "--alias", "a", "--json"], "Missing option '--run'"),
    (["search", "drill", "--alias", "a", "--mode", "fuzzy", "--json"], "'fuzzy' is not one of 'bm25', 'dense', 'hybrid'"),
    (["eval", "--alias", "a", "--judgments", "j.csv", "--modes", "bm25,fuzzy", "--json"],
     "'fuzzy' is not a comma-separated subset of bm25,dense,hybrid"),
    (["search", "drill", "--alias", "a", "--k", "0", "--json"], "Invalid value for '--k'"),
    (["opensearch", "up", "--heap", "lots", "--json"], "'lots' is not a JVM heap size"),
    (["--bogus", "status", "--json"], "No such option: --bogus"),
], ids=["missing-argument", "missing-option", "bad-choice", "bad-comma-separated-choice", "out-of-range",
        "bad-value-from-a-callback", "unknown-option-of-mros-itself"])
def test_parse_errors_with_json_are_one_json_object(args: list[str], words: str):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    payload = _json(result.stdout)
    assert payload["exit_code"] == 2 and words.lower() in payload["error"].lower(), payload


def test_a_usage_error_raised_while_running_is_one_json_object():
    """A command that finds a bad option value itself (``typer.BadParameter``): exit 2, the JSON printed once
    (by the group, not also by ``handle_errors``)."""
    from mr_opensearch.cli._errors import JsonErrorsGroup, handle_errors

    tool = typer.Typer(cls=JsonErrorsGroup)

    @tool.callback()
    def _root() -> None:
        pass

    @tool.command()
    @handle_errors
    def pick(size: int = typer.Option(1, "--size"), as_json: bool = typer.Option(False, "--json")) -> None:
        raise typer.BadParameter(f"{size} is odd", param_hint="'--size'")

    result = runner.invoke(tool, ["pick", "--size", "3", "--json"])
    assert result.exit_code == 2
    assert _json(result.stdout) == {"error": "Invalid value for '--size': 3 is odd", "hint": "see `root pick --help`",
                                    "exit_code": 2}


def test_without_json_a_parse_error_leaves_stdout_empty():
    result = runner.invoke(app, ["search", "drill", "--alias", "a", "--mode", "fuzzy"])
    assert result.exit_code == 2 and result.stdout == "" and "'fuzzy' is not one of" in result.stderr


def test_logs_refuses_json_with_follow(tmp_path: Path):
    result = runner.invoke(app, ["opensearch", "logs", "--node-dir", str(tmp_path), "--json", "--follow"])
    assert result.exit_code == 2
    assert "--json and --follow cannot be combined" in _json(result.stdout)["error"]


# --- --quiet: key values on stdout, nothing on stderr ----------------------------------------------------------


def _fake_run(root: Path) -> Path:
    run = root / "run"
    run.mkdir()
    (run / "config.yaml").write_text("data: {dir: data}\n")
    (run / "metrics.json").write_text(json.dumps({"splits": {"test": {"stage1": {"ndcg@10": 0.5}}}}))
    return run


def _node_with_log(root: Path) -> Path:
    node = root / "node"
    (node / "logs").mkdir(parents=True)
    (node / "logs" / "mros.log").write_text("".join(f"line {i}\n" for i in range(5)))
    return node


QUIET_CASES: dict[str, tuple] = {
    # name: (arguments, expected stdout lines, both made from the workspace)
    "report": (lambda ws: ["report", str(_fake_run(ws))],
               lambda ws: [str(ws / "run" / "report" / "index.html")]),
    "label-simulate-engagement": (
        lambda ws: ["label", "simulate-engagement", "--labels", str(_write(ws / "labels.csv", LABELS)),
                    "--out", str(ws / "log.csv")],
        lambda ws: [str(ws / "log.csv")]),
    "label-simulate-engagement-noisy": (
        lambda ws: ["label", "simulate-engagement", "--labels", str(_write(ws / "labels.csv", LABELS)),
                    "--out", str(ws / "log.csv"), "--noise", "0.5", "--noisy-out", str(ws / "noisy.csv")],
        lambda ws: [str(ws / "log.csv"), str(ws / "noisy.csv"), str(ws / "noisy.truth.csv")]),
    "opensearch-logs": (lambda ws: ["opensearch", "logs", "--node-dir", str(_node_with_log(ws)), "-n", "2"],
                        lambda ws: ["line 3", "line 4"]),
    "opensearch-down-of-a-port-with-nothing": (
        lambda ws: ["opensearch", "down", "--port", str(_free_port()), "--node-dir", str(ws / "node")],
        lambda ws: []),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(QUIET_CASES))
def test_quiet_prints_only_the_key_values(tmp_path: Path, name: str):
    args, expected = QUIET_CASES[name]
    result = runner.invoke(app, ["--quiet", *args(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines() == expected(tmp_path)


@pytest.mark.slow
def test_quiet_export_prints_the_package_only(tmp_path: Path):
    from tiny_models import build_tiny_sentence_transformer

    model = build_tiny_sentence_transformer(tmp_path / "tiny", ["cordless drill", "white lamp", "kitchen sink"])
    result = runner.invoke(app, ["-q", "export", "--model", str(model), "--out", str(tmp_path / "onnx")])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    (zip_path,) = result.stdout.splitlines()
    assert Path(zip_path).is_file() and Path(zip_path).parent == tmp_path / "onnx"


def test_quiet_status_of_a_node_that_is_down_prints_nothing_and_exits_1(tmp_path: Path):
    result = runner.invoke(app, ["-q", "opensearch", "status", "--port", str(_free_port()), "--node-dir", str(tmp_path)])
    assert result.exit_code == 1 and result.stdout == "" and result.stderr == ""


def test_quiet_drops_library_chatter_and_warnings():
    """What libraries print or warn while a command runs: on stderr normally, nowhere under --quiet."""
    from mr_opensearch.cli._errors import handle_errors
    from mr_opensearch.cli._output import result as print_result
    from mr_opensearch.cli._output import state

    chatty = typer.Typer()

    @chatty.callback()
    def _root(quiet: bool = typer.Option(False, "--quiet")) -> None:
        state.quiet = quiet

    @chatty.command()
    @handle_errors
    def work() -> None:
        print("loading weights 100%")
        warnings.warn("a library warning", UserWarning, stacklevel=1)
        print_result("the result")

    try:
        with pytest.warns(UserWarning, match="a library warning"):
            loud = runner.invoke(chatty, ["work"])
        quiet = runner.invoke(chatty, ["--quiet", "work"])
    finally:
        state.quiet = False
    assert loud.stdout == "the result\n" and "loading weights" in loud.stderr
    assert quiet.exit_code == 0 and quiet.stdout == "the result\n" and quiet.stderr == ""


def test_json_of_opensearch_down_and_logs(tmp_path: Path):
    port = _free_port()
    down = runner.invoke(app, ["opensearch", "down", "--port", str(port), "--node-dir", str(tmp_path / "none"), "--json"])
    assert down.exit_code == 0
    assert _json(down.stdout) == {"stopped": False, "port": port, "url": None, "pid": None, "container_id": None}
    node = _node_with_log(tmp_path)
    logs = runner.invoke(app, ["opensearch", "logs", "--node-dir", str(node), "-n", "3", "--json"])
    assert logs.exit_code == 0
    assert _json(logs.stdout) == {"log_file": str(node / "logs" / "mros.log"), "lines": ["line 2", "line 3", "line 4"]}


# --- output modes before or after the command name ------------------------------------------------------------


def _placements(tmp_path: Path) -> dict[str, list[str]]:
    """Commands that need no cluster, with arguments made once (the same paths and port either way)."""
    node = _node_with_log(tmp_path)
    return {"opensearch-logs": ["opensearch", "logs", "--node-dir", str(node), "-n", "2"],
            "opensearch-down": ["opensearch", "down", "--port", str(_free_port()), "--node-dir", str(tmp_path / "x")],
            "label-simulate-engagement": ["label", "simulate-engagement", "--labels",
                                          str(_write(tmp_path / "labels.csv", LABELS)), "--out",
                                          str(tmp_path / "log.csv"), "--force"]}


@pytest.mark.parametrize("mode", ["--quiet", "-q", "--json", "--no-progress", "--debug"])
@pytest.mark.parametrize("name", ["opensearch-logs", "opensearch-down", "label-simulate-engagement"])
def test_an_output_mode_after_the_command_name_works_as_before_it(tmp_path: Path, name: str, mode: str):
    """``mros report RUN -q`` was "No such option: -q" (and ``mros --json report RUN`` "No such option: --json"):
    each output mode now works in both places, with the same output."""
    from mr_opensearch.cli._output import state

    args = _placements(tmp_path)[name]
    plain = runner.invoke(app, args)
    before = runner.invoke(app, [mode, *args])
    after = runner.invoke(app, [*args, mode])
    assert before.exit_code == after.exit_code == plain.exit_code == 0, (before.output, after.output)
    assert (after.stdout, after.stderr) == (before.stdout, before.stderr)
    if mode in ("--quiet", "-q"):
        assert after.stderr == ""
    if mode == "--json":
        assert _json(after.stdout) == _json(before.stdout)
    if mode == "--json" or (mode in ("--quiet", "-q") and name != "opensearch-logs"):  # (logs: the lines either way)
        assert (after.stdout, after.stderr) != (plain.stdout, plain.stderr)  # the mode had its effect
    assert (state.json, state.quiet, state.debug) == (False, False, False)  # after the command: nothing left over


def test_a_search_takes_its_output_mode_after_the_query(tmp_path: Path):
    """The command of the issue: ``mros search "drill" --alias x --quiet`` was "No such option: --quiet"; now it
    gets as far as the cluster (none listens on the port here)."""
    url = f"http://127.0.0.1:{_free_port()}"
    after = runner.invoke(app, ["search", "drill", "--alias", "x", "--quiet", "--url", url, "--json"])
    before = runner.invoke(app, ["--quiet", "--json", "search", "drill", "--alias", "x", "--url", url])
    assert after.exit_code == before.exit_code == 1, after.output
    assert "No such option" not in after.output
    assert _json(after.stdout) == _json(before.stdout)
    assert "cannot reach OpenSearch" in _json(after.stdout)["error"]


@pytest.mark.parametrize(("args", "exit_code", "words"), [
    (["report", "{failed}"], 1, "has no metrics.json"),
    (["opensearch", "logs", "--node-dir", "{tmp}", "--follow"], 2, "--json and --follow cannot be combined"),
    (["search"], 2, "Missing argument 'QUERY'"),
    (["search", "drill", "--alias", "a", "--k", "0"], 2, "Invalid value for '--k'"),
], ids=["error-while-running", "usage-error-while-running", "parse-error", "parse-error-out-of-range"])
def test_errors_keep_their_json_form_with_json_before_or_after_the_command(tmp_path: Path, args: list[str],
                                                                           exit_code: int, words: str):
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "config.yaml").write_text("data: {dir: data}\n")
    args = [arg.format(failed=failed, tmp=tmp_path) for arg in args]
    after = runner.invoke(app, [*args, "--json"])
    before = runner.invoke(app, ["--json", *args])
    assert after.exit_code == before.exit_code == exit_code, (after.output, before.output)
    assert _json(after.stdout) == _json(before.stdout)
    assert _json(after.stdout)["exit_code"] == exit_code and words.lower() in _json(after.stdout)["error"].lower()


def test_debug_after_the_command_shows_the_traceback(tmp_path: Path):
    after = runner.invoke(app, ["report", str(tmp_path), "--debug"])
    before = runner.invoke(app, ["--debug", "report", str(tmp_path)])
    assert after.exit_code == before.exit_code == 1
    assert "Traceback" in after.stderr and "Traceback" in before.stderr
    assert "Traceback" not in runner.invoke(app, ["report", str(tmp_path)]).stderr


def test_every_command_lists_the_output_modes_in_its_help():
    for path in LEAVES:
        options = {opt for param in _command(path).params for opt in param.opts}
        assert {"--json", "--quiet", "-q", "--no-progress", "--debug"} <= options, path


# --- `mros eval`: a trained run or the live index ---------------------------------------------------------------


def _error_lines(stderr: str) -> tuple[list[str], list[str]]:
    lines = stderr.splitlines()
    return [line for line in lines if line.startswith("Error: ")], [line for line in lines if "hint: " in line]


@pytest.mark.parametrize(("args", "words", "hint"), [
    ([], "nothing to evaluate", "pass --run RUN to evaluate a trained run offline, or --alias NAME"),
    (["--run", "r", "--alias", "a"], "--run and --alias are alternatives", "--model RUN/onnx"),
    (["--run", "r", "--judgments", "j.csv", "--k", "50"], "--judgments, --k are options of the live evaluation",
     "drop --judgments, --k"),
    (["--run", "r", "--url", "http://127.0.0.1:9"], "--url is an option of the live evaluation (--alias)",
     "--alias NAME"),
    (["--alias", "a", "--split", "test"], "--split is an option of the offline evaluation (--run)",
     "measured on --judgments"),
    (["--alias", "a"], "--alias needs --judgments", "pass --judgments FILE"),
], ids=["neither", "both", "run-with-live-options", "run-with-a-cluster-option", "alias-with-split",
        "alias-without-judgments"])
def test_eval_takes_exactly_one_of_run_and_alias(args: list[str], words: str, hint: str):
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 2, result.output
    errors, hints = _error_lines(result.stderr)
    assert len(errors) == 1 and len(hints) == 1, result.stderr
    assert words in errors[0] and hint in hints[0]
    assert result.stdout == ""
    as_json = runner.invoke(app, ["eval", *args, "--json"])
    assert as_json.exit_code == 2
    assert _json(as_json.stdout) == {"error": errors[0].removeprefix("Error: "),
                                     "hint": hints[0].split("hint: ", 1)[1], "exit_code": 2}


def test_the_old_name_evaluate_works_with_a_notice(tmp_path: Path):
    old = runner.invoke(app, ["evaluate", "--run", str(tmp_path)])
    new = runner.invoke(app, ["eval", "--run", str(tmp_path)])
    notice = "notice: `mros evaluate` is now `mros eval --run`; the old name goes in the next release"
    assert old.exit_code == new.exit_code == 1
    assert old.stderr == notice + "\n" + new.stderr and "not a run directory" in new.stderr
    as_json = runner.invoke(app, ["evaluate", "--run", str(tmp_path), "--json"])
    assert _json(as_json.stdout) == _json(runner.invoke(app, ["eval", "--run", str(tmp_path), "--json"]).stdout)
    quiet = runner.invoke(app, ["evaluate", "--run", str(tmp_path), "-q"])
    assert notice not in quiet.stderr  # --quiet: stderr holds only the error


# --- library errors name parameters; the CLI names the options -------------------------------------------------


def test_a_library_usage_error_names_its_parameter_and_the_cli_its_option():
    from mr_opensearch.cli._errors import JsonErrorsGroup, handle_errors
    from mr_opensearch.core.errors import MrosError, UsageError

    with pytest.raises(ValueError):
        UsageError("bad", parameters=())
    error = UsageError("{min_grade} applies to the dense leg", "use {mode} dense, not {mode_of_x} {x}",
                       parameters=("min_grade", "mode"))
    assert isinstance(error, MrosError) and error.exit_code == 2 and error.parameters == ("min_grade", "mode")
    assert error.message == "`min_grade` applies to the dense leg"
    assert error.hint == "use `mode` dense, not {mode_of_x} {x}"  # only the listed parameters are placeholders

    tool = typer.Typer(cls=JsonErrorsGroup)

    @tool.callback()
    def _root() -> None:
        pass

    @tool.command()
    @handle_errors
    def find(min_grade: str = typer.Option("exact", "--min-grade"), mode: str = typer.Option("bm25", "--mode")) -> None:
        raise UsageError("{min_grade} applies to the dense leg", "use {mode} dense or {mode} hybrid",
                         parameters=("min_grade", "mode"))

    result = runner.invoke(tool, ["find", "--json"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --min-grade applies to the dense leg\n  hint: use --mode dense or --mode hybrid\n"
    assert _json(result.stdout) == {"error": "--min-grade applies to the dense leg",
                                    "hint": "use --mode dense or --mode hybrid", "exit_code": 2}


def test_library_checks_raise_usage_errors_naming_their_parameters():
    from mr_opensearch.cli._errors import named_for_the_cli
    from mr_opensearch.core.errors import UsageError
    from mr_opensearch.deploy.deploy import prune_candidates
    from mr_opensearch.search.live_eval import evaluate_live
    from mr_opensearch.search.queries import search

    cases = [(lambda: search(None, "shop", "q", mode="bm25", k=0), ("k",), "--k 0: must be at least 1"),
             (lambda: search(None, "shop", "q", mode="bm25", min_grade="exact"), ("min_grade", "mode"),
              "--min-grade applies to the dense leg"),
             (lambda: evaluate_live(None, "shop", None, k=5), ("k",), "--k 5: must be at least 10"),
             (lambda: evaluate_live(None, "shop", None, clients=(0,)), ("clients",), "client counts [0]"),
             (lambda: prune_candidates(None, "shop", 0, "shop-1"), ("keep",), "--keep must be at least 1")]
    for call, parameters, cli_words in cases:
        with pytest.raises(UsageError) as caught:
            call()
        error = caught.value
        assert error.exit_code == 2 and error.parameters == parameters
        assert "--" not in error.message  # the library does not know the command line
        assert cli_words in named_for_the_cli(error).message


# --- enumerations ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "choices"), [
    (["search", "drill", "--alias", "a", "--mode", "x"], "'bm25', 'dense', 'hybrid'"),
    (["search", "drill", "--alias", "a", "--min-grade", "x"], "'partial', 'exact'"),
    (["deploy", "--run", "r", "--catalog", "c", "--alias", "a", "--embedding", "x"], "'auto', 'engine', 'client'"),
    (["eval", "--run", "r", "--split", "x"], "'train', 'validation', 'test'"),
    (["export", "--run", "r", "--package", "x"], "'int8', 'fp32'"),
    (["label", "simulate-engagement", "--labels", "l", "--out", "o", "--split", "x"], "'all', 'train', 'validation', 'test'"),
    (["label", "audit", "--labeler", "l", "--labels", "l", "--engagement", "e", "--catalog", "c", "--out", "o",
      "--signal", "x"], "'clicks', 'add_to_carts', 'orders'"),
], ids=["search-mode", "search-min-grade", "deploy-embedding", "eval-split", "export-package",
        "simulate-split", "audit-signal"])
def test_an_enumerated_option_refuses_other_values_while_parsing(args: list[str], choices: str):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"'x' is not one of {choices}" in result.stderr


@pytest.mark.parametrize(("path", "listed"), [
    (("search",), "<bm25|dense|hybrid>"),
    (("eval",), "<bm25|dense|hybrid>,..."),
    (("export",), "<int8|fp32>"),
    (("label", "audit"), "<clicks|add_to_carts|orders>"),
    (("label", "simulate-engagement"), "<all|train|validation|test>"),
], ids=["search", "eval", "export", "label-audit", "label-simulate-engagement"])
def test_help_lists_the_choices(path: tuple[str, ...], listed: str):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0 and listed in result.stdout


def test_the_enums_agree_with_the_modules_that_use_them():
    from mr_opensearch.cli._choices import CopyMethod, EngagementSplit, Package, SearchMode, Signal, Split
    from mr_opensearch.cli.deploy import Embedding
    from mr_opensearch.deploy.incremental import COPY_METHODS
    from mr_opensearch.job.config import DeployConfig
    from mr_opensearch.search.queries import MODES
    from trainer.config import ExportConfig
    from trainer.labeler.audit import AuditConfig
    from trainer.splits import SPLITS

    assert tuple(SearchMode) == MODES
    assert tuple(CopyMethod) == COPY_METHODS
    assert tuple(Split) == SPLITS and tuple(EngagementSplit) == ("all", *SPLITS)
    assert tuple(Package) == typing.get_args(ExportConfig.model_fields["package"].annotation)
    assert tuple(Embedding) == typing.get_args(DeployConfig.model_fields["embedding"].annotation)
    for signal in Signal:
        AuditConfig(signal=signal.value)
    with pytest.raises(ValueError):
        AuditConfig(signal="views")


# --- overrides are validated like the config file ----------------------------------------------------------------


def test_an_assigned_config_value_is_validated():
    from pydantic import ValidationError

    from trainer.config import TrainConfig

    config = TrainConfig()
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        config.stage1.queries_per_batch = 1
    assert config.stage1.queries_per_batch == 64


@pytest.mark.parametrize(("option", "yaml"), [
    (["--batch-size", "-1"], "batch_size: -1\n"),
    (["--epochs", "0"], "epochs: 0\n"),
    (["--threads", "0"], "threads: 0\n"),
    (["--max-train-pairs", "0"], "data: {max_train_pairs: 0}\n"),
], ids=["batch-size", "epochs", "threads", "max-train-pairs"])
def test_a_bad_override_gets_the_message_of_the_config_file(tmp_path: Path, option: list[str], yaml: str):
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "products.csv", PRODUCTS)
    _write(data / "judgments.csv", "query,product_uid,relevance\ndrill,1,3\n")
    config = _write(tmp_path / "lab.yaml", yaml)
    base = ["label", "train", "--data", str(data), "--out", str(tmp_path / "lab"), "--json"]
    from_option = runner.invoke(app, [*base, *option])
    from_file = runner.invoke(app, [*base, "--config", str(config)])
    assert (from_option.exit_code, from_file.exit_code) == (2, 1)
    by_option, by_file = _json(from_option.stdout), _json(from_file.stdout)
    assert by_option["error"].startswith("the command-line options: invalid labeler config: ")
    assert by_file["error"].startswith(f"{config}: invalid labeler config: ")
    assert by_option["error"].split(": invalid ", 1)[1] == by_file["error"].split(": invalid ", 1)[1]
    assert by_option["hint"] == by_file["hint"]
    assert not (tmp_path / "lab").exists()


def test_apply_overrides_sets_nested_fields_and_skips_none(tmp_path: Path):
    from mr_opensearch.core.errors import MrosError
    from mr_opensearch.core.strict import apply_overrides
    from trainer.config import TrainConfig, load_config

    config = apply_overrides(TrainConfig(), {"stage1.queries_per_batch": 16, "model.base": None, "data.dir": tmp_path})
    assert (config.stage1.queries_per_batch, config.model.base, config.data.dir) == (16, TrainConfig().model.base, tmp_path)
    with pytest.raises(MrosError) as by_option:
        apply_overrides(config, {"stage1.queries_per_batch": 1})
    with pytest.raises(MrosError) as by_file:
        load_config(_write(tmp_path / "c.yaml", "stage1: {queries_per_batch: 1}\n"))
    assert by_option.value.exit_code == 2
    assert by_option.value.message == by_file.value.message.replace(str(tmp_path / "c.yaml"), "the command-line options")
