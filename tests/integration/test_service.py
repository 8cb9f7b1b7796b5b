"""``mros serve`` as a real HTTP service against the real local node (issue #32): the same answers as
``mros search``, a model swap under traffic without one wrong answer, a graceful SIGTERM, the relevance
page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.search.judgments import read_judgments
from mr_opensearch.search.manifest import Manifest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def serving_runs(own_serving_runs):
    """This module deploys the runs: copies, so the session's runs stay as other modules expect them."""
    return own_serving_runs


ROOT = Path(__file__).resolve().parents[2]


class Service:
    """``mros serve`` in its own process, on a free port it reports."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process, self.url = process, url

    def get(self, path: str, timeout: float = 30.0, **params: Any) -> tuple[int, dict[str, Any]]:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        try:
            with urllib.request.urlopen(self.url + path + query, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


def start_service(opensearch_url: str, alias: str, home: Path, *extra: str) -> Service:
    env = {**os.environ, "MROS_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "mr_opensearch", "--no-progress", "serve", "--alias", alias,
                                "--url", opensearch_url, "--port", "0", *extra], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return Service(process, found.group(1).rstrip("/"))
    process.kill()
    raise AssertionError("mros serve did not start:\n" + "".join(lines))


def stop(service: Service) -> int:
    service.process.send_signal(signal.SIGTERM)
    return service.process.wait(60)


def deploy(home: Path, opensearch_url: str, alias: str, run: Path, catalog: Path) -> dict[str, Any]:
    outcome = CliRunner().invoke(app, ["--no-progress", "deploy", "--run", str(run), "--catalog", str(catalog),
                                       "--alias", alias, "--url", opensearch_url, "--embedding", "client", "--json"],
                                 env={"MROS_HOME": str(home)})
    assert outcome.exit_code == 0, outcome.output
    return json.loads(outcome.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-home")


@pytest.fixture(scope="module")
def served(opensearch_url, opensearch_client, serving_runs, home) -> Iterator[tuple[Service, str]]:
    alias = "mros-test-serve"
    for name in list(opensearch_client.indices.get(index=f"{alias}-*")):
        opensearch_client.indices.delete(index=name)
    deploy(home, opensearch_url, alias, serving_runs.runs[0], serving_runs.catalog)
    service = start_service(opensearch_url, alias, home, "--judgments", str(serving_runs.judgments))
    yield service, alias
    if service.process.poll() is None:
        stop(service)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_the_service_answers_what_mros_search_answers(served, opensearch_url, serving_runs, home, mode):
    service, alias = served
    for query in read_judgments(serving_runs.judgments).queries[:4]:
        cli = CliRunner().invoke(app, ["--no-progress", "search", query, "--alias", alias, "--mode", mode, "--k", "10",
                                       "--url", opensearch_url, "--json"], env={"MROS_HOME": str(home)})
        assert cli.exit_code == 0, cli.output
        expected = json.loads(cli.stdout)
        status, body = service.get("/search", q=query, mode=mode, k=10)
        assert status == 200, body
        assert body["index"] == expected["index"]
        assert [h["product_id"] for h in body["hits"]] == [h["product_id"] for h in expected["hits"]]
        assert [h["score"] for h in body["hits"]] == pytest.approx([h["score"] for h in expected["hits"]], rel=1e-6)
        assert [h["grade"] for h in body["hits"]] == [h["grade"] for h in expected["hits"]]
        assert body["judged_query"] is True and body["ndcg@10"] is not None


def test_health_readiness_metrics_and_bad_requests(served):
    service, alias = served
    assert service.get("/healthz") == (200, {"status": "ok"})
    status, ready = service.get("/readyz")
    assert status == 200 and ready["alias"] == alias and ready["model_sha256"]
    for params, parameter in [({"q": "drill", "mode": "fuzzy"}, "mode"), ({"q": "drill", "k": 0}, "k"),
                              ({"q": "drill", "k": 10_001}, "k"), ({"q": ""}, "q"), ({"q": "x" * 10_000}, "q")]:
        status, body = service.get("/search", **params)
        assert status == 400 and body["parameter"] == parameter and body["hint"], body
    with urllib.request.urlopen(service.url + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    assert re.search(r'mros_search_requests_total\{mode="hybrid",status="200"\} \d', text)
    assert f'mros_live_index_info{{alias="{alias}"' in text


def test_a_model_swap_under_traffic_never_answers_with_the_wrong_model(opensearch_url, opensearch_client,
                                                                       serving_runs, home):
    """8 threads query /search (hybrid and dense) the whole time while a deploy of a run with another model
    moves the alias, and a rollback moves it back: no request fails, and every answer's model is the
    model of the index that answered it."""
    alias = "mros-test-swap"
    for name in list(opensearch_client.indices.get(index=f"{alias}-*")):
        opensearch_client.indices.delete(index=name)
    deploy(home, opensearch_url, alias, serving_runs.runs[0], serving_runs.catalog)
    service = start_service(opensearch_url, alias, home, "--resolve-every", "0.2")
    queries = read_judgments(serving_runs.judgments).queries
    answers: list[dict[str, Any]] = []
    failures: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def client(worker: int) -> None:
        i = 0
        while not done.is_set():
            mode = "hybrid" if (worker + i) % 2 else "dense"
            status, body = service.get("/search", q=queries[(worker * 7 + i) % len(queries)], mode=mode, k=10)
            with lock:
                (answers if status == 200 else failures).append(body if status == 200 else f"{status} {body}")
            i += 1

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        second = deploy(home, opensearch_url, alias, serving_runs.runs[1], serving_runs.catalog)
        time.sleep(2)
        back = CliRunner().invoke(app, ["--no-progress", "rollback", "--alias", alias, "--url", opensearch_url])
        assert back.exit_code == 0, back.output
        time.sleep(2)
    finally:
        done.set()
        for t in threads:
            t.join(60)
        assert stop(service) == 0
    manifests = {name: Manifest.from_meta(body["mappings"]["_meta"], name)
                 for name, body in opensearch_client.indices.get(index=f"{alias}-*").items()}
    mismatches = [a for a in answers if a["model_sha256"] != manifests[a["index"]].model_sha256]
    answered_by = {a["index"] for a in answers}
    assert not failures, failures[:3]
    assert not mismatches, mismatches[:1]
    assert second["index"] in answered_by and len(answered_by) == 2, answered_by
    assert len(answers) > 100
    print(f"swap under traffic: {len(answers)} requests, {len(failures)} failed, {len(mismatches)} mismatches, "
          f"indices {sorted(answered_by)}")


def test_sigterm_lets_the_requests_in_flight_finish_and_exits_0(opensearch_url, opensearch_client, serving_runs, home):
    """Six clients query without pause; SIGTERM stops the service. Every request sent before the signal
    is answered 200 (those in flight at that moment too), later ones are refused, and the process exits 0."""
    alias = "mros-test-serve"
    service = start_service(opensearch_url, alias, home)
    queries = read_judgments(serving_runs.judgments).queries
    outcomes: list[tuple[float, float, str]] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        for i in range(100_000):
            started = time.monotonic()
            try:
                status, _ = service.get("/search", q=queries[(worker + i) % len(queries)], mode="hybrid", k=100)
                outcome = str(status)
            except (urllib.error.URLError, ConnectionError) as exc:
                outcome = f"not answered: {getattr(exc, 'reason', exc)!r}"
            with lock:
                outcomes.append((started, time.monotonic(), outcome))
            if outcome != "200":
                return

    threads = [threading.Thread(target=client, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    signalled = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(60)
    for t in threads:
        t.join(60)
    assert code == 0
    before = [o for o in outcomes if o[0] < signalled - 0.1]
    assert before and all(outcome == "200" for _, _, outcome in before), sorted({o for *_, o in before})
    spanning = [o for o in outcomes if o[0] < signalled < o[1] and o[2] == "200"]
    assert spanning, "no request was in flight when SIGTERM came"


def test_the_relevance_page_renders_three_columns_with_badges(served, serving_runs, tmp_path):
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        pytest.skip("no Chromium on this machine (CI installs Debian's `chromium`)")
    service, _alias = served
    query = read_judgments(serving_runs.judgments).queries[0]
    page = f"{service.url}/?q={urllib.parse.quote(query)}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([chromium, *flags, f"--user-data-dir={tmp_path / 'p1'}", "--virtual-time-budget=15000",
                          "--dump-dom", page], capture_output=True, text=True, timeout=120, env=env).stdout
    assert f'data-done="{query}"' in dom, dom[:2000]
    for mode in ("bm25", "dense", "hybrid"):
        column = re.search(rf'<section class="column" id="{mode}"[^>]*>(.*?)</section>', dom, re.S)
        assert column, mode
        assert len(re.findall(r'<li class="hit"', column.group(1))) == 10, mode
        assert "nDCG@10" in column.group(1)
    assert re.search(r'class="badge (exact|partial|irrelevant)"', dom)
    assert re.search(r'class="judged"', dom)
    artefacts = Path(os.environ.get("MROS_TEST_ARTEFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "relevance-page.png"
    subprocess.run([chromium, *flags, f"--user-data-dir={tmp_path / 'p2'}", "--window-size=1400,1000",
                    "--virtual-time-budget=15000", f"--screenshot={shot}", page], capture_output=True, timeout=120,
                   env=env, check=True)
    assert shot.stat().st_size > 10_000
