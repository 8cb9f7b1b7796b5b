"""Bad input to `train`, `label`, `eval --run`, `export`, `report` and `run`, tried as a new user would.

Each row runs the real CLI (``typer.testing.CliRunner`` on ``mr_opensearch.cli.app``) in a small
workspace and checks: the exit code (1; 2 for usage errors), the words of the message and of the
hint, no traceback, and that no input file changed (hash before and after). Rows that must fail
before writing anything also check that no output appeared.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app

runner = CliRunner(env={"COLUMNS": "250"})  # typer draws usage errors in a box: no wrapping inside the words

PRODUCTS = "product_uid,product_title\n1,cordless drill\n2,white lamp\n3,kitchen sink\n"
JUDGMENTS = "query,product_uid,relevance\ndrill,1,3\ndrill,2,1\nlamp,2,2.67\nsink,3,2.33\n"
LABELS = "query,product_uid,grade\ndrill,1,exact\ndrill,2,irrelevant\nlamp,2,exact\nsink,3,partial\n"
PAIRS = "query,product_uid\ndrill,1\nlamp,2\n"
USER_JUDGMENTS = "query,product_uid,relevance,rater\ndrill,1,3,ann\n"
GOOD_METRICS = {"splits": {"test": {"stage1": {"ndcg@10": 0.5}}}}


def _digest(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Workspace:
    """A folder with small input files; remembers their hashes to prove they did not change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs: dict[str, str] = {}

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def snapshot(self) -> dict[str, str]:
        return {str(p.relative_to(self.root)): _digest(p) for p in sorted(self.root.rglob("*")) if p.is_file()}

    def data_dir(self, judgments: str = JUDGMENTS, products: str = PRODUCTS, name: str = "data") -> Path:
        self.file(f"{name}/products.csv", products)
        self.file(f"{name}/judgments.csv", judgments)
        return self.root / name

    def failed_train_run(self, name: str = "failed-run") -> Path:
        """What a `mros train` that died during Stage 1 leaves: the resolved config, no model, no metrics."""
        run = self.root / name
        run.mkdir()
        (run / "config.yaml").write_text("data: {dir: data}\n")
        (run / "environment.json").write_text("{}")
        return run

    def finished_run(self, name: str = "run", metrics: object = GOOD_METRICS, boundaries: str | None = None) -> Path:
        run = self.root / name
        run.mkdir()
        (run / "config.yaml").write_text("data: {dir: data}\n")
        (run / "metrics.json").write_text(json.dumps(metrics))
        if boundaries is not None:
            (run / "boundaries.json").write_text(boundaries)
        return run


@dataclass
class Row:
    """One bad input: how to build the arguments in a workspace, and what the CLI must answer."""

    args: Callable[[Workspace], list[str]]
    exit_code: int
    message: list[str]
    hint: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # outputs that must not exist afterwards
    not_in_output: list[str] = field(default_factory=list)


def _apply(ws: Workspace, out: str, *extra: str) -> list[str]:
    return ["label", "apply", "--labeler", str(ws / "no-labeler-needed"), "--pairs", str(ws.file("pairs.csv", PAIRS)),
            "--catalog", str(ws.file("products.csv", PRODUCTS)), "--out", out, *extra]


def _simulate(ws: Workspace, *extra: str, labels: str = "labels.csv", text: str = LABELS) -> list[str]:
    return ["label", "simulate-engagement", "--labels", str(ws.file(labels, text)),
            "--catalog", str(ws.file("products.csv", PRODUCTS)), *extra]


def _train(ws: Workspace, data: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(ws / "run"), *extra]


def _relevance_row(value: str) -> Row:
    return Row(lambda ws: _train(ws, ws.data_dir(JUDGMENTS + f"sink,1,{value}\n")), 1,
               ["judgments.csv:6", f"relevance '{value}' is outside the scale 1..3"],
               ["grade_mapping", "low: 1, high: 5"], absent=["run/model"], not_in_output=["--skip-bad-rows"])


UNCLOSED_CATALOG = 'product_uid,product_title\n1,cordless drill\n2,"white lamp\n3,kitchen sink\n4,saw\n'
UNCLOSED_QUERY = 'query,product_uid,relevance\ndrill,1,3\n"lamp,2,2.67\nsink,3,2.33\n'


def _readonly(ws: Workspace) -> Path:
    return ws.root / "readonly"


ROWS: dict[str, Row] = {
    # --- data lost: outputs that would overwrite or append to someone's file ---
    "label-apply-out-is-a-users-judgments-file": Row(
        lambda ws: _apply(ws, str(ws.file("my-judgments.csv", USER_JUDGMENTS))), 1,
        ["my-judgments.csv already exists and is not an output of `mros label apply`", "query, product_uid, relevance, rater",
         "appending would mix two schemas"], ["--force"]),
    "label-apply-out-is-its-pairs-input": Row(
        lambda ws: _apply(ws, str(ws / "pairs.csv")), 1,
        ["--out", "pairs.csv is also an input of this command"], ["write the output to a new file"]),
    "label-apply-out-is-the-catalog": Row(
        lambda ws: _apply(ws, str(ws / "products.csv")), 1,
        ["products.csv is also an input of this command"], ["write the output to a new file"]),
    "label-apply-out-is-a-folder": Row(
        lambda ws: _apply(ws, str(ws.root)), 1, ["is a folder, not a file"], ["name a file inside it"]),
    "label-apply-out-under-a-file": Row(
        lambda ws: _apply(ws, str(ws.file("notes.txt", "x") / "labels.csv")), 1,
        ["notes.txt is a file, not a folder"], ["parent folders are folders"]),
    "label-apply-out-parquet-cannot-append": Row(
        lambda ws: _apply(ws, str(ws / "labels.parquet")), 1,
        ["cannot append to a .parquet file"], [".csv or .jsonl"], absent=["labels.parquet"]),
    "label-apply-batch-size-zero": Row(
        lambda ws: _apply(ws, str(ws / "out.csv"), "--batch-size", "0"), 2,
        ["Invalid value for '--batch-size'", "greater than or equal to 1"], absent=["out.csv"]),
    "simulate-noisy-out-overwrites-labels": Row(
        lambda ws: _simulate(ws, "--out", str(ws / "log.csv"), "--noise", "0.2", "--noisy-out", str(ws / "labels.csv")), 1,
        ["--noisy-out", "labels.csv is also an input of this command"], ["write the output to a new file"],
        absent=["log.csv", "labels.truth.csv"]),
    "simulate-out-overwrites-labels": Row(
        lambda ws: _simulate(ws, "--out", str(ws / "labels.csv")), 1,
        ["--out", "labels.csv is also an input of this command"], ["--force"]),
    "simulate-out-exists": Row(
        lambda ws: _simulate(ws, "--out", str(ws.file("log.csv", "query,product_uid,impressions,clicks\n"))), 1,
        ["log.csv already exists"], ["choose another output path", "--force"]),
    "simulate-noisy-out-is-out": Row(
        lambda ws: _simulate(ws, "--out", str(ws / "log.csv"), "--noise", "0.2", "--noisy-out", str(ws / "log.csv")), 1,
        ["--noisy-out and --out are the same file"], ["two files"], absent=["log.csv"]),
    "audit-out-overwrites-labels": Row(
        lambda ws: ["label", "audit", "--labeler", str(ws / "lab"), "--labels", str(ws.file("labels.csv", LABELS)),
                    "--engagement", str(ws.file("log.csv", "query,product_uid,impressions,clicks\ndrill,1,9,1\n")),
                    "--catalog", str(ws.file("products.csv", PRODUCTS)), "--out", str(ws / "labels.csv")], 1,
        ["labels.csv is also an input of this command"], ["write the output to a new file"]),
    "unclosed-quote-in-catalog": Row(
        lambda ws: _train(ws, ws.data_dir(products=UNCLOSED_CATALOG)), 1,
        ["products.csv:3", "an unclosed quote", "does not close before line 5"], ["close the quote"],
        absent=["run/model"], not_in_output=["--skip-bad-rows"]),
    "unclosed-quote-in-catalog-with-skip-bad-rows": Row(
        lambda ws: _train(ws, ws.data_dir(products=UNCLOSED_CATALOG), "--skip-bad-rows"), 1,
        ["products.csv:3", "an unclosed quote"], ["close the quote"], absent=["run/model"]),
    "unclosed-quote-closed-rows-later": Row(
        lambda ws: _train(ws, ws.data_dir(products=UNCLOSED_CATALOG.replace("4,saw", '4,saw"'))), 1,
        ["products.csv:3", "an unclosed quote", "runs over 3 lines (to line 5), merging the rows in between"],
        ["close the quote"], absent=["run/model"]),
    "unclosed-quote-in-judgments-query": Row(
        lambda ws: _train(ws, ws.data_dir(UNCLOSED_QUERY)), 1,
        ["judgments.csv:3", "an unclosed quote"], ["close the quote"], absent=["run/model"]),
    # --- silently accepted before ---
    "relevance-4-on-a-1-to-5-scale": _relevance_row("4"),
    "relevance-0": _relevance_row("0"),
    "relevance-1e9": _relevance_row("1e9"),
    "relevance-inf": _relevance_row("inf"),
    "label-train-batch-size-negative": Row(
        lambda ws: ["label", "train", "--data", str(ws.data_dir()), "--out", str(ws / "lab"), "--batch-size", "-1"], 2,
        ["the command-line options: invalid labeler config", "batch_size: Input should be greater than or equal to 1"],
        ["fix the listed fields"], absent=["lab"]),
    "label-train-batch-size-zero": Row(
        lambda ws: ["label", "train", "--data", str(ws.data_dir()), "--out", str(ws / "lab"), "--batch-size", "0"], 2,
        ["the command-line options: invalid labeler config", "batch_size: Input should be greater than or equal to 1"],
        ["fix the listed fields"], absent=["lab"]),
    "label-config-batch-size-zero": Row(
        lambda ws: ["label", "train", "--data", str(ws.data_dir()), "--out", str(ws / "lab"),
                    "--config", str(ws.file("lab.yaml", "batch_size: 0\n"))], 1,
        ["lab.yaml: invalid labeler config", "batch_size: Input should be greater than or equal to 1"],
        ["fix the listed fields"], absent=["lab"]),
    "train-config-queries-per-batch-negative": Row(
        lambda ws: _train(ws, ws.data_dir(), "--config", str(ws.file("c.yaml", "stage1: {queries_per_batch: -4}\n"))), 1,
        ["c.yaml: invalid config", "stage1.queries_per_batch: Input should be greater than or equal to 2"],
        ["fix the listed fields"], absent=["run"]),
    "train-config-eval-batch-size-zero": Row(
        lambda ws: _train(ws, ws.data_dir(), "--config", str(ws.file("c.yaml", "eval: {batch_size: 0}\n"))), 1,
        ["eval.batch_size: Input should be greater than or equal to 1"], ["fix the listed fields"], absent=["run"]),
    "export-run-and-model-together": Row(
        lambda ws: ["export", "--run", str(ws.finished_run()), "--model", str(ws / "other-model")], 2,
        ["--run and --model are alternatives"], ["--model DIR with --out DIR"], absent=["run/onnx"]),
    "report-boundaries-out-of-order": Row(
        lambda ws: ["report", str(ws.finished_run(boundaries='{"partial": 0.8, "exact": 0.5}'))], 1,
        ["boundaries.json", "out of order", "partial 0.8, exact 0.5"], ["regenerate it"], absent=["run/report"]),
    "report-boundaries-corrupted": Row(
        lambda ws: ["report", str(ws.finished_run(boundaries='{"partial": 0.2, "exa'))], 1,
        ["boundaries.json: not valid JSON"], ["regenerate it"], absent=["run/report"]),
    # --- misleading before ---
    "report-of-a-failed-train": Row(
        lambda ws: ["report", str(ws.failed_train_run())], 1,
        ["has no metrics.json", "did not finish"], ["rerun `mros train --out RUN`"], absent=["failed-run/report"]),
    "eval-run-of-a-failed-train": Row(
        lambda ws: ["eval", "--run", str(ws.failed_train_run())], 1,
        ["holds no trained model", "did not finish"], ["rerun `mros train --out RUN`"]),
    "export-of-a-failed-train": Row(
        lambda ws: ["export", "--run", str(ws.failed_train_run())], 1,
        ["holds no trained model"], ["finished `mros train`"], absent=["failed-run/onnx"]),
    "report-metrics-json-is-a-list": Row(
        lambda ws: ["report", str(ws.finished_run(metrics=[1, 2]))], 1,
        ["metrics.json: expected a JSON object, found list"], ["rerun the step that writes it"]),
    "report-metrics-json-wrong-layout": Row(
        lambda ws: ["report", str(ws.finished_run(metrics={"splits": {"test": [0.5]}}))], 1,
        ["metrics.json: not the layout mros writes"], ["rerun the step that writes it"]),
    "train-out-is-a-file": Row(
        lambda ws: ["train", "--data", str(ws.data_dir()), "--out", str(ws.file("run", "not a folder"))], 1,
        ["--out", "is a file, not a folder"], ["name a folder"]),
    "train-out-in-a-read-only-folder": Row(
        lambda ws: ["train", "--data", str(ws.data_dir()), "--out", str(_readonly(ws) / "run")], 1,
        ["readonly is not writable"], ["a folder you can write to"]),
    "label-evaluate-out-is-a-file": Row(
        lambda ws: ["label", "evaluate", "--labeler", str(ws / "lab"), "--labels", str(ws.file("labels.csv", LABELS)),
                    "--catalog", str(ws.file("products.csv", PRODUCTS)), "--out", str(ws.file("m.json", "{}"))], 1,
        ["m.json is a file, not a folder"], ["name a folder"]),
    "label-row-error-does-not-suggest-skip-bad-rows": Row(
        lambda ws: _simulate(ws, "--out", str(ws / "log.csv"), labels="bad.csv", text=LABELS + "saw,1,meh\n"), 1,
        ["bad.csv:6", "unknown grade 'meh'"], ["fix or remove the row"], absent=["log.csv"],
        not_in_output=["--skip-bad-rows", "on_error"]),
    "train-row-error-names-skip-bad-rows": Row(
        lambda ws: _train(ws, ws.data_dir(JUDGMENTS + "saw,9,3\n")), 1,
        ["judgments.csv:6", "product '9' is not in the catalog"], ["pass --skip-bad-rows"], absent=["run/model"]),
    "train-oversized-title-names-skip-bad-rows": Row(
        lambda ws: _train(ws, ws.data_dir(products=PRODUCTS + "4," + "x" * 10_001 + "\n")), 1,
        ["products.csv:5", "product '4' has a 10001-character product_title (limit 10000"],
        ["pass --skip-bad-rows"], absent=["run/model"]),
    "eval-run-unknown-split": Row(
        lambda ws: ["eval", "--run", str(ws.finished_run()), "--split", "dev"], 2,
        ["Invalid value for '--split'", "'dev' is not one of 'train', 'validation', 'test'"]),
    # --- `mros opensearch`: refused before a JVM is started ---
    "opensearch-up-port-out-of-range": Row(
        lambda ws: ["opensearch", "up", "--port", "70000", "--node-dir", str(ws / "node")], 2,
        ["Invalid value for '--port'"], ["less than or equal to 65535"], absent=["node"]),
    "opensearch-up-heap-not-a-size": Row(
        lambda ws: ["opensearch", "up", "--port", "9", "--heap", "lots", "--node-dir", str(ws / "node")], 2,
        ["Invalid value for '--heap'", "'lots' is not a JVM heap size"], ["e.g. 1g, 2g or 1536m"], absent=["node"]),
    "opensearch-up-negative-timeout": Row(
        lambda ws: ["opensearch", "up", "--port", "9", "--timeout", "-1", "--node-dir", str(ws / "node")], 2,
        ["Invalid value for '--timeout'"], ["greater than or equal to 1"], absent=["node"]),
    # --- `mros run` checks the cluster before anything is trained or written ---
    "run-url-without-scheme": Row(
        lambda ws: ["run", "--out", str(ws / "run"), "--url", "localhost:9200"], 2,
        ["cluster URL 'localhost:9200' has no http:// or https:// scheme"], ["http://HOST:PORT"], absent=["run"]),
    "run-url-bad-port": Row(
        lambda ws: ["run", "--out", str(ws / "run"), "--url", "http://127.0.0.1:99999"], 2,
        ["cluster URL 'http://127.0.0.1:99999' has an invalid port"], ["http://HOST:PORT"], absent=["run"]),
    "run-ca-file-missing": Row(
        lambda ws: ["run", "--out", str(ws / "run"), "--url", "https://127.0.0.1:9", "--ca-certs", str(ws / "ca.pem")], 1,
        ["CA bundle", "ca.pem not found"], ["pass --ca-certs FILE"], absent=["run"]),
    "run-nothing-listening": Row(
        lambda ws: ["run", "--out", str(ws / "run"), "--url", f"http://127.0.0.1:{_free_port()}"], 1,
        ["cannot reach OpenSearch at http://127.0.0.1:"], ["check the URL (scheme, host, port) and that the cluster is up"], absent=["run"]),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def workspace(tmp_path: Path):
    ws = Workspace(tmp_path)
    readonly = _readonly(ws)
    readonly.mkdir()
    locked = shutil.which("chattr") is not None and subprocess.run(
        ["chattr", "+i", str(readonly)], capture_output=True).returncode == 0
    if not locked:
        readonly.chmod(0o555)
    yield ws
    if locked:
        subprocess.run(["chattr", "-i", str(readonly)], check=True)
    readonly.chmod(0o755)


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_input(workspace: Workspace, name: str) -> None:
    row = ROWS[name]
    if name == "train-out-in-a-read-only-folder" and _writable(_readonly(workspace)):
        pytest.skip("cannot make a read-only folder here (no chattr +i, and running as root)")
    args = row.args(workspace)
    before = workspace.snapshot()
    result = runner.invoke(app, args)
    output = result.output
    assert result.exit_code == row.exit_code, output
    for words in row.message + row.hint:
        assert words in output, f"{words!r} not in:\n{output}"
    for words in row.not_in_output:
        assert words not in output, output
    assert "Traceback" not in output
    after = workspace.snapshot()
    changed = {k for k in before if after.get(k) != before[k]}
    assert not changed, f"inputs changed: {changed}"
    for path in row.absent:
        assert not (workspace / path).exists(), f"{path} was written"
    assert set(after) == set(before), f"new files: {set(after) - set(before)}"


def _writable(path: Path) -> bool:
    try:
        (path / ".probe").write_text("x")
    except OSError:
        return False
    (path / ".probe").unlink()
    return True


def test_row_count_covers_the_issue():
    assert len(ROWS) >= 25


# --- --json errors ---------------------------------------------------------------------------------------------


def test_json_error_is_one_object_on_stdout(workspace: Workspace):
    result = runner.invoke(app, ["report", str(workspace.failed_train_run()), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["exit_code"] == 1
    assert "has no metrics.json" in payload["error"] and "rerun `mros train --out RUN`" in payload["hint"]
    assert "Error:" in result.stderr


def test_json_usage_error_exits_2_with_json(workspace: Workspace):
    result = runner.invoke(app, ["export", "--run", str(workspace.finished_run()), "--model", "m", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"error": "--run and --model are alternatives: --run exports RUN/model into "
                                         "RUN/onnx", "hint": "pass --run RUN alone, or --model DIR with --out DIR",
                                         "exit_code": 2}


def test_json_error_from_a_bad_choice(workspace: Workspace):
    result = runner.invoke(app, _simulate(workspace, "--out", str(workspace / "log.csv"), "--split", "dev", "--json"))
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["exit_code"] == 2 and "'dev' is not one of 'all', 'train'" in payload["error"]


# --- `mros run` fails fast on a silent port ---------------------------------------------------------------------


def test_run_gives_up_on_a_port_that_accepts_and_never_answers(workspace: Workspace):
    """A listener that accepts connections and never answers (a wrong service, a hung proxy): before, the
    run trained first and then waited 3 x 60 s; now the reachability check fails within its 10 s timeout,
    before the run directory exists."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = runner.invoke(app, ["run", "--out", str(workspace / "run"), "--url",
                                     f"http://127.0.0.1:{server.getsockname()[1]}"])
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()
    assert result.exit_code == 1, result.output
    assert "did not answer within 10s" in result.output and "HTTP port" in result.output
    assert elapsed < 25, elapsed
    assert accepted, "the check never connected"
    assert not (workspace / "run").exists()


# --- label apply: resume its own output, --force replaces, a new file is written ---------------------------------


def test_label_apply_force_replaces_a_foreign_file_and_resume_accepts_its_own(workspace: Workspace):
    from trainer.labeler.apply import OUTPUT_COLUMNS, check_resumable

    own = workspace.file("own.csv", ",".join(OUTPUT_COLUMNS) + "\ndrill,1,2,exact,0.1,0.1,0.8\n")
    check_resumable(own)  # its own layout: resumed, not refused
    foreign = workspace.file("foreign.jsonl", '{"query": "drill", "product_uid": "1", "relevance": 3}\n')
    with pytest.raises(Exception, match="not an output of `mros label apply`"):
        check_resumable(foreign)


# --- the training readers: skipped rows are counted on the right lines ------------------------------------------


def test_skipped_rows_keep_their_own_line_numbers(tmp_path: Path):
    from trainer.data import load_catalog, load_judgments

    catalog = load_catalog(Workspace(tmp_path).file("p.csv", PRODUCTS))
    path = Workspace(tmp_path).file("j.jsonl", "\n".join([
        '{"query": "drill", "product_uid": "1", "relevance": 3}',
        '{"query": "lamp", "product_uid": "2", "relevance": ',  # torn line
        '{"query": "sink", "product_uid": "3", "relevance": 4}',  # off the 1..3 scale
        '["not", "an", "object"]',
        '{"query": "sink", "product_uid": "3", "relevance": 2.33}',
    ]) + "\n")
    judged = load_judgments(path, catalog, on_error="skip")
    assert judged.frame.values.tolist() == [["drill", "1", 2], ["sink", "3", 1]]
    report = judged.report
    assert (report.rows_read, report.rows_kept) == (5, 2)
    assert dict(report.skipped) == {"malformed rows": 2, "relevance outside the scale": 1}
    assert [e.split(": ", 1)[0].rsplit(":", 1)[1] for e in report.examples] == ["2", "3", "4"]


def test_a_one_to_five_scale_is_read_when_the_mapping_says_so(tmp_path: Path):
    from trainer.data import load_judgments
    from trainer.grades import GradeMapping

    path = Workspace(tmp_path).file("j.csv", "query,product_uid,relevance\nq,1,5\nq,2,4\nq,3,1\n")
    judged = load_judgments(path, mapping=GradeMapping(low=1, high=5, partial=3, exact=4.5))
    assert judged.frame["grade"].tolist() == [2, 1, 0]
    assert GradeMapping().model_dump() == {"exact": 2.67, "partial": 2.0}  # default scale: step hashes unchanged


# --- the local node: healthy on one node when every primary is active --------------------------------------------


@pytest.mark.parametrize(("health", "healthy"), [
    ({"status": "green", "number_of_data_nodes": 1}, True),
    ({"status": "yellow", "number_of_data_nodes": 1, "initializing_shards": 0, "unassigned_shards": 1}, True),
    ({"status": "yellow", "number_of_data_nodes": 1, "initializing_shards": 2}, False),
    ({"status": "yellow", "number_of_data_nodes": 3, "initializing_shards": 0}, False),
    ({"status": "red", "number_of_data_nodes": 1}, False),
], ids=["green", "yellow-one-node", "yellow-still-initializing", "yellow-three-nodes", "red"])
def test_single_node_health_rule(health: dict, healthy: bool):
    from mr_opensearch.cluster.node.process import is_healthy

    assert is_healthy(health) is healthy


def test_skip_bad_rows_skips_an_oversized_title(tmp_path: Path):
    from trainer.data import load_catalog

    path = Workspace(tmp_path).file("p.csv", PRODUCTS + "4," + "x" * 10_001 + "\n5,saw\n")
    catalog = load_catalog(path, on_error="skip")
    assert catalog.ids == ["1", "2", "3", "5"]
    assert dict(catalog.report.skipped) == {"oversized titles": 1} and ":5: product '4'" in catalog.report.examples[0]


# --- safe writes -------------------------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path: Path):
    import os

    from mr_opensearch.core.safe_write import atomic_write, write_text

    path = tmp_path / "labels.csv"
    path.write_text("old contents\n")
    with pytest.raises(RuntimeError), atomic_write(path) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk full")
    assert path.read_text() == "old contents\n"
    assert list(tmp_path.iterdir()) == [path]
    write_text(path, "new contents\n")
    assert path.read_text() == "new contents\n" and list(tmp_path.iterdir()) == [path]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
