"""The bad-input matrix of the serving path: `mros deploy` (and `search`) run through the real CLI against the
real node, one named row per bad input (issue #19, point 5).

Every row asserts the exit code (1; 2 for usage errors), a message that names the problem and a hint line
that says what to do (specific words, not just non-empty), and that the cluster is unchanged: indices with
their settings, mappings (``_meta`` manifest) and aliases, document counts, ingest and search pipelines,
cluster settings, and ML Commons models where the plugin exists (``cluster_snapshot.snapshot``, taken after
the row's setup and compared after the command). Catalog errors keep the ``FILE:LINE: problem`` form.

Rows are grouped by prefix: ``catalog-*`` (the catalog file), ``run-*`` (the run directory), ``alias-*`` and
``option-*`` (arguments), ``cluster-*`` (the cluster's state: red, read-only, over its flood-stage disk
watermark, without k-NN, the live index's blocks and dimension), ``url-*`` (where the cluster is). The
positive controls at the end show what must work: a BOM + CRLF catalog, a run without ``boundaries.json``
(deploys with a warning; ``--min-grade`` then refuses), and a write block on the live index (a deploy writes
a new index and moves the alias, a metadata write the block allows).

The cluster without k-NN is a second real node (port ``MROS_TEST_BARE_OPENSEARCH_PORT``, default 9265) started
by ``lifecycle.up(without=("opensearch-knn",))`` in the background while the other rows run. A cluster older
than 3.0 is not available here (a 2.x distribution runs on Java <= 21 only and is not fetched); its gate is
covered by ``tests/unit/test_bad_input_gates.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cluster_snapshot import snapshot
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BARE_PORT = int(os.environ.get("MROS_TEST_BARE_OPENSEARCH_PORT", "9265"))
ALIAS = "mros-badinput"
LIVE_ALIAS = "mros-badinput-live"

# ---------------------------------------------------------------------------------------------- fixtures


@dataclass
class Ctx:
    """What a row builds its inputs from, and the paths it made (for ``{name}`` in expected messages)."""

    tmp: Path
    client: Any
    url: str
    run: Path
    catalog: Path
    request: pytest.FixtureRequest
    vars: dict[str, str] = field(default_factory=dict)

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def write_catalog(self, content: str | bytes, name: str = "products.csv") -> Path:
        path = self.write(name, content)
        self.vars["catalog"] = str(path)
        return path

    def run_copy(self) -> Path:
        """A copy of the good run (its onnx/ package and boundaries.json) to damage."""
        copy = self.tmp / "run"
        if not copy.exists():
            shutil.copytree(self.run / "onnx", copy / "onnx")
            shutil.copyfile(self.run / "boundaries.json", copy / "boundaries.json")
        self.vars["run"] = str(copy)
        return copy

    def deploy(self, *extra: str, run: Path | None = None, catalog: Path | None = None, alias: str = ALIAS,
               url: str | None = None) -> list[str]:
        return ["deploy", "--run", str(run or self.run), "--catalog", str(catalog or self.catalog), "--alias", alias,
                "--url", url or self.url, "--embedding", "client", *extra]


def _serve(mode: str) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers every request with non-HTTP bytes (``garbage``) or accepts and
    never answers (``silent``); yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            if mode == "garbage":
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02 not http\r\n\r\n")
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=loop, name=f"mros-test-{mode}-server", daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


@pytest.fixture(scope="module")
def garbage_port() -> Iterator[int]:
    yield from _serve("garbage")


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    yield from _serve("silent")


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def bare_node(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """A real node WITHOUT the k-NN plugin, started in a background thread when the module starts (so its
    start-up overlaps the other rows) if the row that needs it was collected; the function returns its URL
    once it is green."""
    from mr_opensearch.cluster.node import lifecycle, state

    if not any("cluster-without-knn" in item.nodeid for item in request.session.items):
        yield lambda: pytest.fail("the node without k-NN was not started")  # type: ignore[return-value]
        return
    already_running = lifecycle.running_state(state.node_dir(BARE_PORT)) is not None
    outcome: dict[str, Any] = {}

    def start() -> None:
        try:
            outcome["node"] = lifecycle.up(port=BARE_PORT, heap="512m", without=("opensearch-knn",), timeout=300)
        except BaseException as exc:  # handed to the row that needs the node
            outcome["error"] = exc

    thread = threading.Thread(target=start, name="mros-test-bare-node", daemon=True)
    thread.start()

    def url() -> str:
        thread.join(timeout=320)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["node"].url

    yield url
    thread.join(timeout=320)
    if not already_running:
        lifecycle.down(port=BARE_PORT)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("badinput-home")


def invoke(args: list[str], home: Path) -> Any:
    return CliRunner().invoke(app, ["--no-progress", *args], env={"MROS_HOME": str(home)})


def _delete_alias_indices(client: Any, alias: str) -> None:
    for name in list(client.indices.get(index=f"{alias}-*", expand_wildcards="all")):
        client.indices.delete(index=name)


@pytest.fixture(scope="module")
def runs(own_serving_runs: Any) -> list[Path]:
    """Copies of the two serving runs (a deploy writes RUN/deploy/; see ``own_serving_runs``)."""
    return own_serving_runs.runs


@pytest.fixture(scope="module")
def live(opensearch_url: str, opensearch_client: Any, serving_runs: Any, runs: list[Path], home: Path) -> Iterator[str]:
    """A real client-mode deploy of the first serving run behind ``LIVE_ALIAS``; yields its index."""
    _delete_alias_indices(opensearch_client, LIVE_ALIAS)
    done = invoke(["deploy", "--run", str(runs[0]), "--catalog", str(serving_runs.catalog), "--alias",
                   LIVE_ALIAS, "--url", opensearch_url, "--embedding", "client"], home)
    assert done.exit_code == 0, done.output
    (index,) = opensearch_client.indices.get_alias(name=LIVE_ALIAS)
    yield index
    _delete_alias_indices(opensearch_client, LIVE_ALIAS)


@pytest.fixture(scope="module")
def narrow_run(tmp_path_factory: pytest.TempPathFactory, serving_runs: Any) -> Path:
    """A run whose tiny encoder makes 16-d vectors (the serving runs make 32-d ones)."""
    import csv

    from tiny_models import build_tiny_sentence_transformer

    from trainer.export import export_for_ml_commons

    with open(serving_runs.catalog, encoding="utf-8") as fh:
        titles = [r["product_title"] for r in csv.DictReader(fh)]
    run = tmp_path_factory.mktemp("narrow") / "run"
    model_dir = build_tiny_sentence_transformer(run / "model", titles, hidden_size=16, seed=3)
    export_for_ml_commons(model_dir, run / "onnx", name="mros-badinput-16d")
    shutil.copyfile(serving_runs.runs[0] / "boundaries.json", run / "boundaries.json")
    return run


@pytest.fixture
def ctx(tmp_path: Path, opensearch_client: Any, opensearch_url: str, serving_runs: Any, runs: list[Path],
        request: pytest.FixtureRequest) -> Ctx:
    return Ctx(tmp=tmp_path, client=opensearch_client, url=opensearch_url, run=runs[0],
               catalog=serving_runs.catalog, request=request)


# ---------------------------------------------------------------------------------------------- setups
# Each setup puts the cluster into the row's state before the "before" snapshot and restores it afterwards.


@contextlib.contextmanager
def foreign_alias(ctx: Ctx) -> Iterator[None]:
    ctx.client.indices.create(index="badinput-foreign", body={"settings": {"number_of_replicas": 0}})
    ctx.client.indices.put_alias(index="badinput-foreign", name=ALIAS)
    try:
        yield
    finally:
        ctx.client.indices.delete(index="badinput-foreign")


@contextlib.contextmanager
def plain_index_named_like_the_alias(ctx: Ctx) -> Iterator[None]:
    ctx.client.indices.create(index=ALIAS, body={"settings": {"number_of_replicas": 0}})
    try:
        yield
    finally:
        ctx.client.indices.delete(index=ALIAS)


@contextlib.contextmanager
def red_cluster(ctx: Ctx) -> Iterator[None]:
    """One primary that can never be allocated: the cluster turns red."""
    ctx.client.indices.create(index="badinput-red", wait_for_active_shards="0", body={"settings": {
        "number_of_shards": 1, "number_of_replicas": 0, "index.routing.allocation.require._name": "nowhere"}})
    try:
        assert ctx.client.cluster.health()["status"] == "red"
        yield
    finally:
        ctx.client.indices.delete(index="badinput-red")


def own_node_only() -> None:
    """Rows that block the whole cluster for a moment run only on the tests' own node, never on a cluster
    given with MROS_OPENSEARCH_URL that others may use."""
    if os.environ.get("MROS_OPENSEARCH_URL"):
        pytest.skip("blocks the whole cluster for a moment: runs only on the tests' own node, not MROS_OPENSEARCH_URL")


def cluster_setting(key: str, value: Any) -> Callable[[Ctx], contextlib.AbstractContextManager[None]]:
    @contextlib.contextmanager
    def setup(ctx: Ctx) -> Iterator[None]:
        own_node_only()
        ctx.client.cluster.put_settings(body={"transient": {key: value}})
        try:
            yield
        finally:
            ctx.client.cluster.put_settings(body={"transient": {key: None}})

    return setup


def live_index_block(block: str) -> Callable[[Ctx], contextlib.AbstractContextManager[None]]:
    @contextlib.contextmanager
    def setup(ctx: Ctx) -> Iterator[None]:
        index = ctx.fixture("live")
        ctx.client.indices.put_settings(index=index, body={block: True})
        try:
            yield
        finally:
            ctx.client.indices.put_settings(index=index, body={block: None})

    return setup


KEEP_ALIAS = "mros-badinput-keep"


@contextlib.contextmanager
def older_index_read_only(ctx: Ctx) -> Iterator[None]:
    """Two complete deploys behind ``KEEP_ALIAS`` (the serving runs), the older, no longer live, one read-only:
    ``--keep 1`` on the next deploy would have to delete it."""
    _delete_alias_indices(ctx.client, KEEP_ALIAS)
    for run in ctx.fixture("runs"):
        done = invoke(ctx.deploy(run=run, alias=KEEP_ALIAS), ctx.fixture("home"))
        assert done.exit_code == 0, done.output
    live = set(ctx.client.indices.get_alias(name=KEEP_ALIAS))
    (older,) = set(ctx.client.indices.get(index=f"{KEEP_ALIAS}-*")) - live
    ctx.client.indices.put_settings(index=older, body={"index.blocks.read_only": True})
    ctx.vars["older"] = older
    try:
        yield
    finally:
        ctx.client.indices.put_settings(index=older, body={"index.blocks.read_only": None})
        _delete_alias_indices(ctx.client, KEEP_ALIAS)


def keep_one_with_another_catalog(ctx: Ctx) -> list[str]:
    lines = ctx.catalog.read_text(encoding="utf-8").splitlines(keepends=True)
    return ctx.deploy("--keep", "1", alias=KEEP_ALIAS, catalog=ctx.write_catalog("".join(lines[:51]), "half.csv"))


FLOOD_STAGE_SETTINGS = {
    "cluster.routing.allocation.disk.threshold_enabled": True,
    # absolute values are the free space a node must keep: larger than any disk, so the node is over all three
    "cluster.routing.allocation.disk.watermark.low": "3000tb",
    "cluster.routing.allocation.disk.watermark.high": "2000tb",
    "cluster.routing.allocation.disk.watermark.flood_stage": "1000tb",
    "cluster.info.update.interval": "10s",  # the minimum OpenSearch accepts
}


@contextlib.contextmanager
def over_flood_stage(ctx: Ctx) -> Iterator[None]:
    """The node over its flood-stage watermark and, as OpenSearch does at its next disk check, every index
    on it blocked (``read_only_allow_delete``) and new indices refused (persistent
    ``cluster.blocks.create_index``); the settings and blocks are removed afterwards (with the disk
    threshold off again OpenSearch no longer releases them itself)."""
    own_node_only()
    index = ctx.fixture("live")
    ctx.client.cluster.put_settings(body={"transient": FLOOD_STAGE_SETTINGS})

    def blocked() -> bool:
        blocks = ctx.client.indices.get_settings(index=index, name="index.blocks.*", flat_settings=True)
        persistent = ctx.client.cluster.get_settings(flat_settings=True)["persistent"]
        return (blocks.get(index, {}).get("settings", {}).get("index.blocks.read_only_allow_delete") == "true"
                and persistent.get("cluster.blocks.create_index") == "true")

    try:
        deadline = time.monotonic() + 40
        while not blocked():
            if time.monotonic() > deadline:
                pytest.fail("OpenSearch set no flood-stage blocks within 40 s")
            time.sleep(0.5)
        yield
    finally:
        ctx.client.cluster.put_settings(body={"transient": dict.fromkeys(FLOOD_STAGE_SETTINGS),
                                              "persistent": {"cluster.blocks.create_index": None}})
        ctx.client.indices.put_settings(index="_all", expand_wildcards="all",
                                        body={"index.blocks.read_only_allow_delete": None})


# ---------------------------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One bad input: the CLI arguments, the exit code, words the message and the hint must contain
    (``{catalog}``, ``{run}`` and ``{url}`` are replaced by the row's paths), an optional setup of the
    cluster, and an optional bound on the command's seconds. ``usage``: a usage error click reports itself
    (``Usage:`` and ``Try ... --help`` instead of mros's hint line)."""

    id: str
    args: Callable[[Ctx], list[str]]
    message: tuple[str, ...]
    hint: tuple[str, ...] = ()
    exit: int = 1
    setup: Callable[[Ctx], contextlib.AbstractContextManager[None]] | None = None
    seconds: float | None = None
    usage: bool = False


def with_catalog(content: str | bytes, name: str = "products.csv", *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ctx.deploy(*extra, catalog=ctx.write_catalog(content, name))


def with_run(damage: Callable[[Path], Any], *extra: str) -> Callable[[Ctx], list[str]]:
    def args(ctx: Ctx) -> list[str]:
        run = ctx.run_copy()
        damage(run)
        return ctx.deploy(*extra, run=run)

    return args


def _edit_json(path: Path, change: Callable[[dict], Any]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def engine_mode_on_a_node_without_plugins(ctx: Ctx) -> list[str]:
    if "opensearch-ml" in {row["component"] for row in ctx.client.cat.plugins(format="json")}:
        pytest.skip("the node has ML Commons: --embedding engine is no error there")
    return [*ctx.deploy()[:-1], "engine"]


def dimension_change(ctx: Ctx) -> list[str]:
    ctx.fixture("live")
    return ctx.deploy(run=ctx.fixture("narrow_run"), alias=LIVE_ALIAS)




def replaced_model(ctx: Ctx) -> list[str]:
    """A run whose int8 model.onnx is another run's, its ml-commons.json and zip untouched."""
    run = ctx.run_copy()
    shutil.copyfile(ctx.fixture("runs")[1] / "onnx" / "int8" / "model.onnx", run / "onnx" / "int8" / "model.onnx")
    return ctx.deploy(run=run)


def changed_package(ctx: Ctx) -> list[str]:
    import zipfile

    run = ctx.run_copy()
    with zipfile.ZipFile(run / "onnx" / "ml-commons.zip", "a") as package:
        package.writestr("notes.txt", "edited after export")
    return ctx.deploy(run=run)


def shrinking_catalog(ctx: Ctx) -> list[str]:
    ctx.fixture("live")
    return ctx.deploy(alias=LIVE_ALIAS, catalog=ctx.write_catalog(HEADER + _first_row(ctx) + "\n", "one.csv"))


def _first_row(ctx: Ctx) -> str:
    return ctx.catalog.read_text(encoding="utf-8").splitlines()[1]


def judged_elsewhere(ctx: Ctx) -> Path:
    return ctx.write("elsewhere.csv", "query,product_uid,relevance\ndrill,nope-1,3\nsaw,nope-2,2\n")


def live_command(*args: str) -> Callable[[Ctx], list[str]]:
    """A serving command against the live alias (``{judgments}``: the serving judgments, ``{elsewhere}``:
    judgments of products the catalog does not hold, ``{other_run}``: the second serving run)."""
    def build(ctx: Ctx) -> list[str]:
        ctx.fixture("live")
        values = {"judgments": str(ctx.fixture("serving_runs").judgments), "elsewhere": str(judged_elsewhere(ctx)),
                  "other_run": str(ctx.fixture("runs")[1])}
        return [a.format(**values) for a in args] + ["--url", ctx.url]

    return build

HEADER = "product_uid,product_title\n"
FIX = "fix the file and rerun"

ROWS = [
    # -- the catalog file ------------------------------------------------------------------------------
    Row("catalog-unclosed-quote-merges-rows", with_catalog(HEADER + '1,"drill\n2,sink"\n3,saw\n'),
        ("{catalog}:2: an unclosed quote: a quoted field opened on this line runs over 2 lines", "merging the rows in between"),
        ("close the quote",)),
    Row("catalog-unclosed-quote-at-end", with_catalog(HEADER + '1,drill\n2,"sink\n3,tile\n'),
        ("{catalog}:3: an unclosed quote: a quoted field opened on this row does not close before line 4",),
        ("close the quote",)),
    Row("catalog-empty-file", with_catalog(""), ("{catalog}: the file is empty",), ("the file needs a header and at least one row",)),
    Row("catalog-header-only", with_catalog(HEADER), ("{catalog}: no products in the catalog (only a header)",),
        ("add one row per product",)),
    Row("catalog-missing-id-column", with_catalog("sku,product_title\n1,drill\n"),
        ("{catalog}:1: no id column (looked for product_uid, product_id, id; found sku, product_title)",),
        ("rename it",)),
    Row("catalog-missing-title-column", with_catalog("product_uid,name\n1,drill\n"),
        ("{catalog}:1: no title column (looked for product_title, title; found product_uid, name)",), ("rename it",)),
    Row("catalog-id-over-512-bytes", with_catalog(HEADER + "1,drill\n" + "x" * 600 + ",saw\n"),
        ("{catalog}:3: product id", "is 600 bytes long (OpenSearch's limit for a document id is 512 bytes)"),
        ("shorten the ids",)),
    Row("catalog-id-with-a-control-character", with_catalog(HEADER + "1,drill\nsaw\x07blade,saw\n"),
        ("{catalog}:3: product id 'saw\\x07blade' holds control characters (U+0007)",), ("remove them",)),
    Row("catalog-duplicate-id", with_catalog(HEADER + "7,drill\n8,saw\n7,sink\n"),
        ("{catalog}:4: duplicate product id '7' (first on line 2)",), ("one row per product",)),
    Row("catalog-empty-title", with_catalog(HEADER + "1,drill\n2,   \n"),
        ("{catalog}:3: product '2' has an empty product_title",), (FIX,)),
    Row("catalog-empty-id", with_catalog(HEADER + "1,drill\n ,saw\n"), ("{catalog}:3: empty product_uid",), (FIX,)),
    Row("catalog-too-many-fields", with_catalog(HEADER + "1,drill\n2,saw, cordless\n"),
        ("{catalog}:3: 3 fields, the header has 2",), ("quote fields that contain the delimiter",)),
    Row("catalog-oversized-title", with_catalog(HEADER + "1,drill\n2," + "t" * 10_001 + "\n"),
        ("{catalog}:3: product '2' has a 10001-character title (limit 10000)",), ("at most 512 tokens",)),
    Row("catalog-oversized-field", with_catalog("product_uid,product_title,description\n1,drill,"
                                                + "d" * 100_001 + "\n", "products.csv", "--text-field", "description"),
        ("{catalog}:2: field 'description' has 100001 characters (limit 100000)",), ("quote that never closes",)),
    Row("catalog-field-over-csv-limit", with_catalog(HEADER + '1,"' + "t" * 140_000 + '"\n'),
        ("{catalog}:2: a field longer than 131072 characters (limit 100000)",), ("quote that never closes",)),
    Row("catalog-non-utf8", with_catalog(HEADER.encode() + b"1,drill\n2,caf\xe9 table\n"),
        ("{catalog}:3: not UTF-8 (byte 0xe9 at offset",), ("re-save the file as UTF-8", "iconv")),
    Row("catalog-is-a-directory", lambda ctx: ctx.deploy(catalog=ctx.tmp), ("is a directory",),
        ("pass the catalog file itself",)),
    Row("catalog-missing-file", lambda ctx: ctx.deploy(catalog=ctx.tmp / "nope.csv"), ("nope.csv not found",),
        ("pass an existing --catalog file",)),
    Row("catalog-unknown-extension", with_catalog(HEADER + "1,drill\n", "products.xlsx"),
        ("unknown file type '.xlsx'",), ("save the catalog as CSV (.csv)",), exit=2),
    Row("catalog-parquet", with_catalog(b"PAR1\x00\x00", "products.parquet"),
        ("Parquet is not read on the serving path",), ("convert it to CSV",), exit=2),
    Row("catalog-jsonl-broken-line", with_catalog('{"id": 1, "title": "drill"}\n{"id": 2, "title": \n',
                                                  "products.jsonl"),
        ("{catalog}:2: not valid JSON",), ("fix or remove the row",)),
    Row("catalog-jsonl-not-an-object", with_catalog('{"id": 1, "title": "drill"}\n[2, "saw"]\n', "products.jsonl"),
        ("{catalog}:2: expected a JSON object per line",), ("fix or remove the row",)),
    Row("catalog-text-field-not-a-column", with_catalog(HEADER + "1,drill\n", "products.csv", "--text-field", "brand"),
        ("{catalog}:1: no column 'brand' for --text-field",), ("name an existing column",)),
    # -- the run directory -----------------------------------------------------------------------------
    Row("run-missing-directory", lambda ctx: ctx.deploy(run=ctx.tmp / "no-run"), ("run directory", "not found"),
        ("--out folder of `mros train`",)),
    Row("run-missing-onnx-folder", with_run(lambda r: shutil.rmtree(r / "onnx")),
        ("{run}/onnx/ml-commons.json not found (the exported model package)",), ("mros export --run {run}",)),
    Row("run-missing-ml-commons-json", with_run(lambda r: (r / "onnx" / "ml-commons.json").unlink()),
        ("ml-commons.json not found",), ("mros export --run {run}",)),
    Row("run-ml-commons-json-not-json", with_run(lambda r: (r / "onnx" / "ml-commons.json").write_text("{oops")),
        ("ml-commons.json: not valid JSON",), ("mros export --run {run}",)),
    Row("run-ml-commons-json-without-hash", with_run(lambda r: _edit_json(
        r / "onnx" / "ml-commons.json", lambda d: d.pop("model_content_hash_value"))),
        ("not an ML Commons register body",), ("mros export --run RUN",)),
    Row("run-ml-commons-dimension-differs-from-onnx", with_run(lambda r: _edit_json(
        r / "onnx" / "ml-commons.json", lambda d: d["model_config"].update(embedding_dimension=64))),
        ("makes 32-d vectors, but its ml-commons.json says embedding_dimension 64",), ("mros export --run {run}",)),
    Row("run-missing-model-onnx", with_run(lambda r: (r / "onnx" / "int8" / "model.onnx").unlink()),
        ("int8/model.onnx not found (part of the exported model)",), ("mros export --run {run}",)),
    Row("run-missing-tokenizer", with_run(lambda r: (r / "onnx" / "int8" / "tokenizer.json").unlink()),
        ("int8/tokenizer.json not found (part of the exported model)",), ("mros export --run {run}",)),
    Row("run-model-onnx-random-bytes", with_run(lambda r: (r / "onnx" / "int8" / "model.onnx").write_bytes(
        os.urandom(4096))), ("model.onnx is not a valid ONNX model",), ("mros export --run {run}",)),
    Row("run-model-onnx-truncated", with_run(lambda r: _truncate(r / "onnx" / "int8" / "model.onnx")),
        ("model.onnx is not a valid ONNX model",), ("mros export --run {run}",)),
    Row("run-tokenizer-corrupted", with_run(lambda r: (r / "onnx" / "int8" / "tokenizer.json").write_text(
        '{"version": "1.0", "model": 3}')), ("tokenizer.json is not a tokenizers file",), ("mros export --run {run}",)),
    Row("run-model-replaced-after-export", replaced_model,
        ("model.onnx is not the model.onnx of", "the model was replaced after export"), ("mros export --run {run}",)),
    Row("run-package-changed-after-export", changed_package,
        ("ml-commons.json records", "the package changed after export"), ("mros export --run {run}",)),
    Row("run-boundaries-not-json", with_run(lambda r: (r / "boundaries.json").write_text("partial=0.2")),
        ("boundaries.json: not valid JSON",), ("retrain with `mros train`",)),
    Row("run-boundaries-out-of-order", with_run(lambda r: (r / "boundaries.json").write_text(
        '{"partial": 0.7, "exact": 0.3}')),
        ("boundaries.json: boundaries out of order or out of range: partial 0.7, exact 0.3",),
        ("partial boundary must not exceed the exact one",)),
    Row("run-boundaries-nan", with_run(lambda r: (r / "boundaries.json").write_text('{"partial": NaN, "exact": 0.5}')),
        ("boundaries.json: the partial boundary is nan, not a finite cosine",), ("regenerate it with `mros train`",)),
    Row("run-boundaries-out-of-range", with_run(lambda r: (r / "boundaries.json").write_text(
        '{"partial": 0.5, "exact": 1.5}')), ("out of range: partial 0.5, exact 1.5",), ("regenerate boundaries.json",)),
    Row("run-boundaries-missing-value", with_run(lambda r: (r / "boundaries.json").write_text('{"partial": 0.2}')),
        ("boundaries.json: needs numeric 'partial' and 'exact' cosines",), ("mros train",)),
    # -- arguments ---------------------------------------------------------------------------------------
    Row("alias-upper-case", lambda ctx: ctx.deploy(alias="Products"),
        ("invalid alias name 'Products': it has upper-case letters",), ("use lower-case letters",), exit=2),
    Row("alias-wildcard", lambda ctx: ctx.deploy(alias="products*"), ("invalid alias name 'products*': it contains '*'",),
        ("use lower-case letters",), exit=2),
    Row("alias-leading-underscore", lambda ctx: ctx.deploy(alias="_products"),
        ("it starts with '-', '_' or '+'",), ("use lower-case letters",), exit=2),
    Row("alias-too-long", lambda ctx: ctx.deploy(alias="p" * 201), ("it is longer than 200 bytes",),
        ("use lower-case letters",), exit=2),
    Row("alias-empty", lambda ctx: ctx.deploy(alias=""), ("invalid alias name '': it is empty",),
        ("use lower-case letters",), exit=2),
    Row("option-keep-zero", lambda ctx: ctx.deploy("--keep", "0"), ("Invalid value for '--keep'",), exit=2, usage=True),
    Row("option-embedding-unknown", lambda ctx: ["deploy", "--run", str(ctx.run), "--catalog", str(ctx.catalog),
                                                 "--alias", ALIAS, "--url", ctx.url, "--embedding", "gpu"],
        ("Invalid value for '--embedding'",), exit=2, usage=True),
    Row("option-hybrid-file-not-json", lambda ctx: ctx.deploy("--hybrid", str(ctx.write("h.json", "{oops"))),
        ("h.json: not valid JSON",), ("mros eval --tune --save FILE",)),
    Row("option-hybrid-file-invalid-settings", lambda ctx: ctx.deploy("--hybrid", str(ctx.write(
        "h.json", json.dumps({"best": {"settings": {"weights": [0.5], "bogus": 1}}})))),
        ("--hybrid", "h.json: invalid hybrid settings: weights.1: Field required; bogus: Extra inputs are not permitted"),
        ("fix the listed settings",), exit=2),
    Row("option-timeout-zero", lambda ctx: ctx.deploy("--timeout", "0"),
        ("Invalid value for '--timeout': 0 is not a number of seconds above 0",), exit=2, usage=True),
    Row("option-max-shrink-above-one", lambda ctx: ctx.deploy("--max-shrink", "1.5"),
        ("Invalid value for '--max-shrink'",), exit=2, usage=True),
    Row("option-gate-file-missing", lambda ctx: ctx.deploy("--gate", str(ctx.tmp / "missing.csv")),
        ("judgments file", "missing.csv not found"), ("pass an existing judgments file",)),
    Row("option-gate-judgments-match-no-product", lambda ctx: ctx.deploy("--gate", str(judged_elsewhere(ctx))),
        ("the --gate judgments", "match no product of the catalog"), ("judgments of this catalog",)),
    Row("option-search-empty-query", live_command("search", "   ", "--alias", LIVE_ALIAS),
        ("the query is empty",), ("send a non-empty query",), exit=2),
    Row("option-eval-save-over-its-judgments",
        live_command("eval", "--alias", LIVE_ALIAS, "--judgments", "{judgments}", "--tune", "--save", "{judgments}"),
        ("is also an input of this command",), ("write the output to a new file",)),
    Row("option-engine-mode-without-plugins", lambda ctx: engine_mode_on_a_node_without_plugins(ctx),
        ("--embedding engine needs", "opensearch-ml"), ("deploy with --embedding client",)),
    # -- the cluster -------------------------------------------------------------------------------------
    Row("cluster-alias-points-at-foreign-index", lambda ctx: ctx.deploy(),
        (f"alias '{ALIAS}' points at badinput-foreign, an index mros did not create",),
        ("mros never moves an alias it does not own",), setup=foreign_alias),
    Row("cluster-alias-name-is-a-plain-index", lambda ctx: ctx.deploy(), (f"'{ALIAS}' is an index, not an alias",),
        ("choose another --alias",), setup=plain_index_named_like_the_alias),
    Row("cluster-dimension-differs-from-live-index", dimension_change,
        ("the model makes 16-d vectors, the live index", "holds 32-d ones"), ("--allow-dimension-change",)),
    Row("cluster-catalog-leaves-out-most-of-the-live-index", shrinking_catalog,
        ("the catalog leaves out 149 of the 150 products of the live index", "more than the 10% allowed"),
        ("a truncated export?", "--allow-shrink")),
    Row("cluster-search-with-another-model", live_command("search", "drill", "--alias", LIVE_ALIAS, "--mode", "dense",
                                                          "--run", "{other_run}"),
        ("is not the model index", "was built with"), ("leave out --model/--run",)),
    Row("cluster-eval-judgments-match-nothing", live_command("eval", "--alias", LIVE_ALIAS, "--judgments",
                                                             "{elsewhere}", "--modes", "bm25"),
        ("the judgments match nothing in the index: 0 of 2 judged products",), ("judgments of the catalog",)),
    Row("cluster-red", lambda ctx: ctx.deploy(), ("cluster health is red",), ("_cluster/allocation/explain",),
        setup=red_cluster),
    Row("cluster-read-only", lambda ctx: ctx.deploy(), ("the cluster is read-only (cluster.blocks.read_only is set)",),
        ('"cluster.blocks.read_only": null',), setup=cluster_setting("cluster.blocks.read_only", True)),
    Row("cluster-read-only-allow-delete", lambda ctx: ctx.deploy(),
        ("the cluster is read-only (cluster.blocks.read_only_allow_delete is set)",), ("free disk space",),
        setup=cluster_setting("cluster.blocks.read_only_allow_delete", True)),
    Row("cluster-create-index-blocked", lambda ctx: ctx.deploy(),
        ("the cluster refuses new indices (cluster.blocks.create_index is set",), ('"cluster.blocks.create_index": null',),
        setup=cluster_setting("cluster.blocks.create_index", True)),
    Row("cluster-live-index-read-only", lambda ctx: ctx.deploy(alias=LIVE_ALIAS),
        ("is blocked: index.blocks.read_only is set", f"the alias '{LIVE_ALIAS}' cannot be moved off it"),
        ('"index.blocks.read_only": null',), setup=live_index_block("index.blocks.read_only")),
    Row("cluster-live-index-read-only-allow-delete", lambda ctx: ctx.deploy(alias=LIVE_ALIAS),
        ("index.blocks.read_only_allow_delete is set (OpenSearch sets it over the flood-stage disk watermark)",),
        ("free disk space first",), setup=live_index_block("index.blocks.read_only_allow_delete")),
    Row("cluster-keep-would-delete-a-read-only-index", keep_one_with_another_catalog,
        ("index {older} is blocked: index.blocks.read_only is set; --keep would delete it",),
        ('"index.blocks.read_only": null',), setup=older_index_read_only),
    Row("cluster-over-flood-stage-disk-watermark", lambda ctx: ctx.deploy(),
        ("the cluster is over its flood-stage disk watermark: node", "free of", "(flood stage 1000tb)",
         "every index on such a node read-only"), ("free disk space on the node", "_cat/allocation"),
        setup=over_flood_stage),
    # -- where the cluster is ----------------------------------------------------------------------------
    Row("url-closed-port", lambda ctx: ctx.deploy(url=f"http://127.0.0.1:{ctx.fixture('closed_port')}"),
        ("cannot reach OpenSearch at http://127.0.0.1:", "connection refused: nothing listens there"),
        ("check the URL (scheme, host, port) and that the cluster is up",), seconds=10),
    Row("url-not-http", lambda ctx: ctx.deploy(url=f"http://127.0.0.1:{ctx.fixture('garbage_port')}"),
        ("the server there does not speak HTTP",), ("check the URL",), seconds=10),
    Row("url-accepts-and-never-answers",
        lambda ctx: ctx.deploy("--timeout", "2", url=f"http://127.0.0.1:{ctx.fixture('silent_port')}"),
        ("did not answer within 2s",), ("check the URL",), seconds=20),
    Row("url-no-scheme", lambda ctx: ctx.deploy(url="127.0.0.1:9200"),
        ("cluster URL '127.0.0.1:9200' has no http:// or https:// scheme",), ("http://HOST:PORT",), exit=2),
    Row("url-other-scheme", lambda ctx: ctx.deploy(url="ftp://127.0.0.1:9200"), ("has no http:// or https:// scheme",),
        ("http://HOST:PORT",), exit=2),
    Row("url-port-out-of-range", lambda ctx: ctx.deploy(url="http://127.0.0.1:99999"),
        ("has an invalid port (Port out of range 0-65535)",), ("http://HOST:PORT",), exit=2),
    Row("url-port-not-a-number", lambda ctx: ctx.deploy(url="http://127.0.0.1:92OO"), ("has an invalid port",),
        ("http://HOST:PORT",), exit=2),
    Row("url-no-host", lambda ctx: ctx.deploy(url="http://:9200"), ("cluster URL 'http://:9200' has no host",),
        ("http://HOST:PORT",), exit=2),
    # last, so the node's start overlaps every row above
    Row("cluster-without-knn", lambda ctx: ctx.deploy(url=ctx.fixture("bare_node")()),
        ("the cluster has no k-NN plugin (opensearch-knn)",), ("opensearch-plugin install opensearch-knn",)),
]


def _split(output: str) -> tuple[str, str]:
    """(message, hint) of mros's ``Error: ...`` / ``  hint: ...`` lines."""
    assert "Error: " in output, output
    error = output.split("Error: ", 1)[1]
    message, _, hint = error.partition("\n  hint: ")
    return message, hint


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(row: Row, ctx: Ctx, home: Path) -> None:
    args = row.args(ctx)
    ctx.vars.setdefault("url", ctx.url)
    ctx.vars.setdefault("run", str(ctx.run))
    ctx.vars.setdefault("catalog", str(ctx.catalog))
    with row.setup(ctx) if row.setup else contextlib.nullcontext():
        records = sorted((ctx.run / "deploy").glob("*"))
        before = snapshot(ctx.client)
        try:
            started = time.monotonic()
            outcome = invoke(args, home)
            seconds = time.monotonic() - started
            after = snapshot(ctx.client)
        finally:  # a row that wrongly deployed must not leave its index to the rows after it
            for name in set(ctx.client.indices.get(index=f"{ALIAS}-*")) - set(before["indices"]):
                ctx.client.indices.delete(index=name)
    assert outcome.exit_code == row.exit, outcome.output
    assert "Traceback" not in outcome.output, outcome.output
    if row.usage:
        assert "Usage: " in outcome.output and "Try 'mros deploy --help' for help." in outcome.output
        text = outcome.output
        for words in row.message:
            assert words in text, f"{words!r} not in {text!r}"
    else:
        message, hint = _split(outcome.output)
        for words in row.message:
            assert words.format(**ctx.vars) in message, f"{words.format(**ctx.vars)!r} not in {message!r}"
        assert hint.strip(), f"no hint line in {outcome.output!r}"
        for words in row.hint:
            assert words.format(**ctx.vars) in hint, f"{words.format(**ctx.vars)!r} not in {hint!r}"
    if row.seconds is not None:
        assert seconds < row.seconds, f"took {seconds:.1f} s"
    assert after == before
    assert sorted((ctx.run / "deploy").glob("*")) == records, "a refused deploy wrote a manifest into the run"


def test_matrix_has_at_least_forty_named_rows() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids)) >= 40


# ---------------------------------------------------------------------------------------------- positive controls


def test_catalog_with_bom_and_crlf_deploys_like_the_plain_file(ctx: Ctx, home: Path) -> None:
    """A UTF-8 byte-order mark and CRLF line ends change nothing: the same ids and titles, so the same
    catalog fingerprint and index name as the plain file (dry runs; the cluster stays as it was)."""
    plain = ctx.catalog.read_text(encoding="utf-8")
    bom_crlf = ctx.write_catalog(b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode("utf-8"), "bom-crlf.csv")
    before = snapshot(ctx.client)
    runs = [invoke(ctx.deploy("--dry-run", "--json", catalog=path), home) for path in (ctx.catalog, bom_crlf)]
    assert snapshot(ctx.client) == before
    for outcome in runs:
        assert outcome.exit_code == 0, outcome.output
    first, second = (json.loads(outcome.stdout) for outcome in runs)
    assert second["index"] == first["index"] and second["documents"] == first["documents"] == plain.count("\n") - 1


def test_run_without_boundaries_deploys_with_a_warning_and_min_grade_refuses(ctx: Ctx, home: Path) -> None:
    """Decision: no boundaries.json is not an error. The deploy works and warns; searches work without
    badges; ``--min-grade`` refuses with the reason."""
    alias = "mros-badinput-noboundaries"
    run = ctx.run_copy()
    (run / "boundaries.json").unlink()
    _delete_alias_indices(ctx.client, alias)
    try:
        done = invoke(ctx.deploy("--json", run=run, alias=alias), home)
        assert done.exit_code == 0, done.output
        assert "has no boundaries.json: hits get no grade badges, `mros search --min-grade` refuses" in done.output
        manifest = json.loads(done.stdout)["manifest"]
        assert manifest["boundaries"] is None and manifest["hybrid"]["lower_bound_mode"] == "none"
        found = invoke(["search", "drill", "--alias", alias, "--url", ctx.url, "--mode", "dense", "--json"], home)
        assert found.exit_code == 0, found.output
        assert json.loads(found.stdout)["hits"]
        before = snapshot(ctx.client)
        refused = invoke(["search", "drill", "--alias", alias, "--url", ctx.url, "--mode", "dense", "--min-grade",
                          "partial"], home)
        assert refused.exit_code == 1, refused.output
        message, hint = _split(refused.output)
        assert "has no grade boundaries, so --min-grade has nothing to cut at" in message
        assert "deploy a run with boundaries.json" in hint
        assert snapshot(ctx.client) == before
    finally:
        _delete_alias_indices(ctx.client, alias)


def test_write_block_on_the_live_index_does_not_stop_a_deploy(ctx: Ctx, home: Path, runs: list[Path]) -> None:
    """``index.blocks.write`` on the live index refuses documents, not metadata: the new run goes to a new
    index and the alias moves off the blocked one, which is kept, still blocked, for rollback."""
    alias = "mros-badinput-frozen"
    _delete_alias_indices(ctx.client, alias)
    try:
        first = invoke(ctx.deploy(alias=alias), home)
        assert first.exit_code == 0, first.output
        (frozen,) = ctx.client.indices.get_alias(name=alias)
        ctx.client.indices.put_settings(index=frozen, body={"index.blocks.write": True})
        second = invoke(ctx.deploy("--json", run=runs[1], alias=alias), home)
        assert second.exit_code == 0, second.output
        out = json.loads(second.stdout)
        assert out["action"] == "created" and out["previous_index"] == frozen and out["index"] != frozen
        assert list(ctx.client.indices.get_alias(name=alias)) == [out["index"]]
        settings = ctx.client.indices.get_settings(index=frozen, name="index.blocks.write", flat_settings=True)
        assert settings[frozen]["settings"]["index.blocks.write"] == "true"
    finally:
        for index in ctx.client.indices.get(index=f"{alias}-*"):
            ctx.client.indices.put_settings(index=index, body={"index.blocks.write": None})
        _delete_alias_indices(ctx.client, alias)
