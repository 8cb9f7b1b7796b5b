"""``mros search`` and ``mros eval`` against a client-mode deploy on the real local node.

Uses ``deployed_alias`` from ``conftest.py``: ``(client, alias, run_dir, judgments_path)``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = pytest.mark.integration

GRADE_RANK = {"irrelevant": 0, "partial": 1, "exact": 2}


def _invoke(url: str, *args: str) -> Any:
    outcome = CliRunner().invoke(app, ["--no-progress", *args, "--url", url])
    assert outcome.exit_code == 0, outcome.output
    return outcome


def _a_query(judgments: Path) -> str:
    from mr_opensearch.search.judgments import read_judgments

    return read_judgments(judgments).queries[0]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_search_returns_hits_with_badges_in_every_mode(opensearch_url: str, deployed_alias: tuple, mode: str):
    _client, alias, _run, judgments = deployed_alias
    out = json.loads(_invoke(opensearch_url, "search", _a_query(judgments), "--alias", alias, "--mode", mode, "--k", "5",
                             "--json").stdout)
    assert out["mode"] == mode and out["embedding"] == "client"
    assert 0 < len(out["hits"]) <= 5
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    for hit in out["hits"]:
        assert hit["product_id"] and hit["title"]
        if mode == "bm25":
            assert hit["grade"] is None
        elif mode == "dense":
            assert hit["grade"] in GRADE_RANK
        else:
            assert hit["grade"] in GRADE_RANK if hit["dense_score"] is not None else hit["grade"] is None


@pytest.mark.parametrize("grade", ["partial", "exact"])
def test_min_grade_sends_the_converted_boundary_and_every_badge_reaches_it(opensearch_url: str, deployed_alias: tuple, grade: str):
    from mr_opensearch.search.manifest import cosine_to_score
    from mr_opensearch.search.queries import live_index

    client, alias, run_dir, judgments = deployed_alias
    cosines = json.loads((Path(run_dir) / "boundaries.json").read_text())
    expected = cosine_to_score(float(cosines[grade]))
    _, manifest = live_index(client, alias)
    assert manifest.boundaries is not None and manifest.boundaries.min_score(grade) == pytest.approx(expected)
    out = json.loads(_invoke(opensearch_url, "search", _a_query(judgments), "--alias", alias, "--mode", "dense",
                             "--min-grade", grade, "--k", "50", "--json", "--show-requests").stdout)
    sent = out["requests"][0]["body"]["query"]["knn"]["embedding"]
    assert "k" not in sent and sent["min_score"] == pytest.approx(expected)
    for hit in out["hits"]:
        assert hit["score"] >= expected - 1e-6
        assert GRADE_RANK[hit["grade"]] >= GRADE_RANK[grade]


def test_hybrid_on_the_node_equals_fusion_recomputed_from_the_legs(opensearch_url: str, deployed_alias: tuple):
    from mr_opensearch.search.queries import (
        QueryEmbedder,
        bm25_body,
        default_settings,
        fused_from_raw,
        knn_body,
        live_index,
        search,
    )

    client, alias, _run, judgments = deployed_alias
    index, manifest = live_index(client, alias)
    # one segment, no merge between the requests below: HNSW's top `depth` (and so the dense leg's min-max
    # range) must be the same in each, which a background merge (e.g. after the fault tests restart the
    # node) can change by one candidate
    client.indices.forcemerge(index=index, max_num_segments=1)
    client.indices.refresh(index=index)
    settings = default_settings(manifest)
    embedder = QueryEmbedder(manifest)
    query = _a_query(judgments)
    outcome = search(client, alias, query, mode="hybrid", k=10, embedder=embedder, settings=settings)
    depth = settings.pagination_depth
    bm25 = client.search(index=index, body=bm25_body(query, manifest.text_fields, depth))
    knn = client.search(index=index, body=knn_body(embedder.encode([query])[0], depth, depth))
    expected = fused_from_raw(bm25, knn, settings)[:10]
    assert outcome.hits, "the hybrid search found nothing"
    assert [h.product_id for h in outcome.hits] == [pid for pid, _ in expected]
    assert [h.score for h in outcome.hits] == pytest.approx([s for _, s in expected], abs=1e-6)
    raw_dense = {h["_source"]["product_id"]: h["_score"] for h in knn["hits"]["hits"]}
    for hit in outcome.hits:
        assert hit.dense_score == (pytest.approx(raw_dense[hit.product_id]) if hit.product_id in raw_dense else None)


def test_eval_prints_all_modes_side_by_side(opensearch_url: str, deployed_alias: tuple):
    _client, alias, _run, judgments = deployed_alias
    text = _invoke(opensearch_url, "eval", "--alias", alias, "--judgments", str(judgments), "--max-queries", "10",
                   "--clients", "1,2").stdout
    header = next(line for line in text.splitlines() if "bm25" in line and "dense" in line)
    assert "hybrid" in header
    assert any(line.startswith("ndcg@10") for line in text.splitlines())
    report = json.loads(_invoke(opensearch_url, "eval", "--alias", alias, "--judgments", str(judgments), "--max-queries", "10",
                                "--clients", "1,2", "--json").stdout)["eval"]
    assert set(report["modes"]) == {"bm25", "dense", "hybrid"} and report["queries"] == 10
    for block in report["modes"].values():
        assert block["quality"]["ndcg@10"] is not None and set(block["qps"]) == {"1", "2"}
    assert set(report["modes"]["dense"]["boundaries"]) == {"partial", "exact"}


def test_eval_under_16_clients_for_a_bounded_time_reports_p99_and_no_errors(opensearch_url: str,
                                                                             deployed_alias: tuple):
    _client, alias, _run, judgments = deployed_alias
    started = time.perf_counter()
    report = json.loads(_invoke(opensearch_url, "eval", "--alias", alias, "--judgments", str(judgments),
                                "--max-queries", "10", "--modes", "bm25,hybrid", "--clients", "1,16",
                                "--load-seconds", "1", "--json").stdout)["eval"]
    # two modes x two loads of 1 s each, plus the judged pass and warm-up: bounded, not 16 passes
    assert time.perf_counter() - started < 60
    for mode in ("bm25", "hybrid"):
        heavy = report["modes"][mode]["load"]["16"]
        assert heavy["clients"] == 16 and heavy["errors"] == 0 and heavy["first_error"] is None
        assert heavy["requests"] > 16  # every thread looped over the 10 queries for the whole second
        assert 1.0 <= heavy["seconds"] < 5.0
        assert heavy["latency_ms"]["p50"] <= heavy["latency_ms"]["p99"]
        assert report["modes"][mode]["qps"]["16"] == heavy["qps"] > 0
    text = _invoke(opensearch_url, "eval", "--alias", alias, "--judgments", str(judgments), "--max-queries", "10",
                   "--modes", "bm25", "--clients", "1,16", "--load-seconds", "1").stdout
    assert any(line.startswith("p99 ms, 16 clients") for line in text.splitlines())
    assert any(line.startswith("errors, 16 clients") and " 0 of " in line for line in text.splitlines())


def test_load_counts_failed_requests_instead_of_stopping():
    from mr_opensearch.search.live_eval import load

    def flaky(query: str) -> None:
        if query == "bad":
            raise ConnectionError("reset by peer")

    outcome = load(flaky, ["a", "bad", "b", "c"], threads=3)
    assert outcome["requests"] == 4 and outcome["errors"] == 1
    assert outcome["first_error"] == "ConnectionError: reset by peer"
    assert outcome["latency_ms"] is not None and outcome["qps"] > 0


def test_tune_writes_a_settings_file_deploy_can_read(opensearch_url: str, deployed_alias: tuple, tmp_path: Path):
    from mr_opensearch.cli.deploy import read_hybrid_file
    from mr_opensearch.search.fusion import HybridSettings

    _client, alias, _run, judgments = deployed_alias
    target = tmp_path / "tuned.json"
    _invoke(opensearch_url, "eval", "--alias", alias, "--judgments", str(judgments), "--max-queries", "10", "--modes", "hybrid",
            "--clients", "1", "--tune", "--save", str(target))
    saved = json.loads(target.read_text())
    assert {v["settings"]["lower_bound_mode"] for v in saved["variants"]} == {"apply", "clip", "none"}
    assert saved["best"]["ndcg@10"] == max(v["ndcg@10"] for v in saved["variants"])
    settings = HybridSettings(**read_hybrid_file(target))
    assert settings.model_dump(mode="json") == saved["best"]["settings"]
