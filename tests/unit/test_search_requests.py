"""``mros search`` / ``mros eval`` without a cluster: the exact request bodies, radial thresholds, badges,
client-side hybrid fusion recomputed from raw leg responses (hand-computed for apply / clip / none), the
alias checks, and the live-eval metrics over a scripted client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mr_opensearch.cli._errors import named_for_the_cli
from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.fusion import HybridSettings
from mr_opensearch.search.manifest import Boundaries, Manifest
from mr_opensearch.search.queries import (
    NO_BADGE,
    QueryEmbedder,
    bm25_body,
    fused_from_raw,
    hybrid_body_engine,
    knn_body,
    live_index,
    msearch_lines,
    neural_body,
    run_query,
    search,
)

SOURCE = ["product_id", "title"]


def manifest(embedding: str = "client", **extra: Any) -> Manifest:
    values: dict[str, Any] = dict(index="shop-abc", alias="shop", model_sha256="0" * 64, catalog_sha256="1" * 64,
                                  embedding=embedding, dimension=2, documents=5,
                                  boundaries=Boundaries.from_cosines(0.2, 0.6),  # engine scores 0.6 / 0.8
                                  text_fields=["title", "brand"])
    values.update(extra)
    return Manifest(**values)


def response(*hits: tuple[str, float], took: int = 3) -> dict[str, Any]:
    return {"took": took, "hits": {"hits": [{"_id": pid, "_score": score,
                                             "_source": {"product_id": pid, "title": f"title {pid}"}}
                                            for pid, score in hits]}}


# raw legs used by the fusion tests
BM25 = response(("a", 10.0), ("b", 6.0), ("c", 2.0))
KNN = response(("b", 0.9), ("d", 0.7), ("a", 0.6), ("e", 0.4))


# ------------------------------------------------------------------------------------------- body builders


def test_bm25_body_is_best_fields_multi_match_over_the_text_fields():
    assert bm25_body("cordless drill", ["title", "brand"], 7) == {
        "size": 7, "_source": SOURCE,
        "query": {"multi_match": {"query": "cordless drill", "fields": ["title", "brand"], "type": "best_fields"}}}


def test_knn_body_sends_k_or_a_radial_min_score_never_both():
    assert knn_body(np.array([0.5, -0.25], dtype=np.float32), 20, 10) == {
        "size": 10, "_source": SOURCE, "query": {"knn": {"embedding": {"vector": [0.5, -0.25], "k": 20}}}}
    assert knn_body([0.5, -0.25], 20, 10, min_score=0.8) == {
        "size": 10, "_source": SOURCE, "query": {"knn": {"embedding": {"vector": [0.5, -0.25], "min_score": 0.8}}}}


def test_neural_body_carries_the_model_id_and_k_or_min_score():
    assert neural_body("sink", "m-1", 5, 5) == {
        "size": 5, "_source": SOURCE,
        "query": {"neural": {"embedding": {"query_text": "sink", "model_id": "m-1", "k": 5}}}}
    assert neural_body("sink", "m-1", 5, 5, min_score=0.6)["query"] == {
        "neural": {"embedding": {"query_text": "sink", "model_id": "m-1", "min_score": 0.6}}}


def test_engine_hybrid_body_has_both_legs_pagination_depth_and_the_combined_min_score():
    m = manifest("engine", model_id="m-1", search_pipeline="shop-abc-hybrid")
    settings = HybridSettings(weights=(0.3, 0.7), lower_bound_mode="apply", dense_lower_bound=0.6,
                              min_score=0.35, pagination_depth=50)
    assert hybrid_body_engine("sink", m, settings, 10) == {
        "size": 10, "_source": SOURCE, "min_score": 0.35,
        "query": {"hybrid": {"pagination_depth": 50, "queries": [
            {"multi_match": {"query": "sink", "fields": ["title", "brand"], "type": "best_fields"}},
            {"neural": {"embedding": {"query_text": "sink", "model_id": "m-1", "k": 50}}}]}}}
    no_cut = HybridSettings(weights=(0.3, 0.7), lower_bound_mode="none", min_score=None, pagination_depth=50)
    assert "min_score" not in hybrid_body_engine("sink", m, no_cut, 10)


def test_msearch_lines_put_a_header_before_each_body():
    a, b = bm25_body("x", ["title"], 3), knn_body([1.0, 0.0], 3, 3)
    assert msearch_lines("idx", [a, b]) == [{"index": "idx"}, a, {"index": "idx"}, b]


# ------------------------------------------------------------------------------------- fusion from raw legs


def _settings(mode: str) -> HybridSettings:
    return HybridSettings(weights=(0.4, 0.6), lower_bound_mode=mode, dense_lower_bound=None if mode == "none" else 0.65,
                          min_score=None, pagination_depth=10)


# BM25 leg, plain min-max (min 2, max 10): a 1.0, b 0.5, c 0 -> 0.001.
# Dense leg (min 0.4, max 0.9), lower bound L = 0.65:
#   none : b 1.0, d 0.6, a 0.4, e 0 -> 0.001
#   apply: s > L uses L as the minimum: b (0.9-0.65)/0.25 = 1.0, d 0.05/0.25 = 0.2; else min: a 0.4, e 0.001
#   clip : minimum L, scores below L -> 0.001: b 1.0, d 0.2, a 0.001, e 0.001
# combined = 0.4 * bm25 + 0.6 * dense (a leg without the doc contributes 0 with its weight)
@pytest.mark.parametrize(("mode", "expected"), [
    ("none", [("b", 0.8), ("a", 0.64), ("d", 0.36), ("e", 0.0006), ("c", 0.0004)]),
    ("apply", [("b", 0.8), ("a", 0.64), ("d", 0.12), ("e", 0.0006), ("c", 0.0004)]),
    ("clip", [("b", 0.8), ("a", 0.4006), ("d", 0.12), ("e", 0.0006), ("c", 0.0004)]),
])
def test_fused_from_raw_matches_hand_computed_fusion(mode: str, expected: list[tuple[str, float]]):
    fused = fused_from_raw(BM25, KNN, _settings(mode))
    assert [pid for pid, _ in fused] == [pid for pid, _ in expected]
    assert [score for _, score in fused] == pytest.approx([score for _, score in expected], abs=1e-6)


def test_fused_from_raw_applies_the_combined_min_score():
    settings = HybridSettings(**{**_settings("apply").model_dump(), "min_score": 0.1})
    assert [pid for pid, _ in fused_from_raw(BM25, KNN, settings)] == ["b", "a", "d"]


# --------------------------------------------------------------------------------- run_query over a script


class ScriptedClient:
    """Answers ``search`` / ``msearch`` from canned responses and records every call."""

    def __init__(self, search_answer: dict | None = None, msearch_answer: list[dict] | None = None) -> None:
        self.search_answer, self.msearch_answer = search_answer, msearch_answer
        self.calls: list[tuple[str, Any]] = []

    def search(self, index: str, body: dict, params: dict | None = None) -> dict:
        self.calls.append(("search", {"index": index, "body": body, "params": params}))
        return self.search_answer  # type: ignore[return-value]

    def msearch(self, body: list[dict]) -> dict:
        self.calls.append(("msearch", body))
        return {"took": 4, "responses": self.msearch_answer}


def test_dense_radial_search_sends_the_boundary_and_badges_each_hit():
    client = ScriptedClient(search_answer=response(("p1", 0.85), ("p2", 0.8), ("p3", 0.7), ("p4", 0.61)))
    out = run_query(client, "shop-abc", manifest(), "q", mode="dense", k=5, vector=np.array([0.6, 0.8]),
                    min_score=0.6)
    sent = client.calls[0][1]["body"]
    assert sent["query"]["knn"]["embedding"] == {"vector": [pytest.approx(0.6), pytest.approx(0.8)], "min_score": 0.6}
    assert [h.grade for h in out.hits] == ["exact", "exact", "partial", "partial"]
    assert out.radial_min_score == 0.6 and out.took_ms == 3.0 and out.requests[0]["path"] == "/shop-abc/_search"


def test_bm25_hits_have_no_badge():
    client = ScriptedClient(search_answer=response(("p1", 12.0)))
    out = run_query(client, "shop-abc", manifest(), "q", mode="bm25", k=5)
    assert [(h.product_id, h.score, h.grade, h.bm25_score) for h in out.hits] == [("p1", 12.0, NO_BADGE, 12.0)]
    with pytest.raises(MrosError, match="BM25 scores have no grade boundaries"):
        run_query(client, "shop-abc", manifest(), "q", mode="bm25", k=5, min_score=0.6)


def test_client_hybrid_is_one_msearch_fused_here_with_badges_from_the_dense_leg():
    client = ScriptedClient(msearch_answer=[BM25, KNN])
    settings = _settings("clip")
    out = run_query(client, "shop-abc", manifest(), "q", mode="hybrid", k=3, vector=np.array([1.0, 0.0]),
                    settings=settings)
    assert len(client.calls) == 1 and client.calls[0][0] == "msearch"
    lines = client.calls[0][1]
    assert lines[0] == {"index": "shop-abc"} and lines[2] == {"index": "shop-abc"}
    assert lines[1] == bm25_body("q", ["title", "brand"], 10)
    assert lines[3] == knn_body([1.0, 0.0], 10, 10)
    assert [(h.product_id, h.bm25_score, h.dense_score, h.grade) for h in out.hits] == [
        ("b", 6.0, 0.9, "exact"), ("a", 10.0, 0.6, "partial"), ("d", None, 0.7, "partial")]
    assert [h.score for h in out.hits] == pytest.approx([0.8, 0.4006, 0.12], abs=1e-6)
    assert out.took_ms == 4.0 and out.settings == settings.model_dump(mode="json")


def test_hybrid_doc_only_in_the_bm25_leg_gets_no_badge():
    client = ScriptedClient(msearch_answer=[BM25, KNN])
    out = run_query(client, "shop-abc", manifest(), "q", mode="hybrid", k=10, vector=np.array([1.0, 0.0]),
                    settings=_settings("none"))
    assert {h.product_id: h.grade for h in out.hits}["c"] == NO_BADGE


def test_engine_hybrid_goes_through_the_search_pipeline():
    m = manifest("engine", model_id="m-1", search_pipeline="shop-abc-hybrid")
    client = ScriptedClient(search_answer=response(("b", 0.8), ("a", 0.5)))
    settings = HybridSettings(weights=(0.3, 0.7), lower_bound_mode="none", min_score=0.2, pagination_depth=40)
    out = run_query(client, "shop-abc", m, "q", mode="hybrid", k=10, settings=settings)
    call = client.calls[0][1]
    assert call["params"] == {"search_pipeline": "shop-abc-hybrid"}
    assert call["body"] == hybrid_body_engine("q", m, settings, 10)
    assert [h.grade for h in out.hits] == [NO_BADGE, NO_BADGE]


def test_engine_dense_is_a_neural_query_and_needs_no_vector():
    m = manifest("engine", model_id="m-1")
    client = ScriptedClient(search_answer=response(("p1", 0.81)))
    out = run_query(client, "shop-abc", m, "drill", mode="dense", k=4)
    assert client.calls[0][1]["body"] == neural_body("drill", "m-1", 4, 4)
    assert out.hits[0].grade == "exact"


# ------------------------------------------------------------------------------------------- the live index


class FakeIndices:
    def __init__(self, aliases: dict[str, Any] | None, meta: dict[str, dict]) -> None:
        self.aliases, self.meta = aliases, meta

    def get_alias(self, name: str) -> dict:
        from opensearchpy.exceptions import NotFoundError

        if self.aliases is None:
            raise NotFoundError(404, "aliases_not_found_exception", {})
        return self.aliases

    def get_mapping(self, index: str) -> dict:
        return {index: {"mappings": {"_meta": self.meta.get(index)}}}


class FakeCluster(ScriptedClient):
    def __init__(self, aliases: dict[str, Any] | None, meta: dict[str, dict], **answers: Any) -> None:
        super().__init__(**answers)
        self.indices = FakeIndices(aliases, meta)


def test_live_index_finds_the_one_index_and_its_manifest():
    m = manifest()
    index, found = live_index(FakeCluster({"shop-abc": {"aliases": {"shop": {}}}}, {"shop-abc": m.to_meta()}), "shop")
    assert index == "shop-abc" and found == m


@pytest.mark.parametrize(("aliases", "meta", "message"), [
    (None, {}, "alias shop not found"),
    ({"shop-a": {}, "shop-b": {}}, {}, "points at 2 indices"),
    ({"other": {}}, {"other": {"owner": "someone"}}, "no mros manifest"),
])
def test_live_index_refuses_missing_split_or_foreign_aliases(aliases: Any, meta: dict, message: str):
    with pytest.raises(MrosError, match=message) as caught:
        live_index(FakeCluster(aliases, meta), "shop")
    if aliases is None:
        assert "deploy first: mros deploy" in (caught.value.hint or "")


def test_search_converts_min_grade_to_the_boundary_engine_score():
    m = manifest()
    cluster = FakeCluster({"shop-abc": {}}, {"shop-abc": m.to_meta()}, search_answer=response(("p1", 0.9)))

    class Embedder:
        def encode(self, queries: list[str]) -> np.ndarray:
            return np.array([[0.6, 0.8]] * len(queries))

    out = search(cluster, "shop", "q", mode="dense", k=3, min_grade="exact", embedder=Embedder())  # type: ignore[arg-type]
    assert cluster.calls[0][1]["body"]["query"]["knn"]["embedding"]["min_score"] == pytest.approx(0.8)
    assert out.radial_min_score == pytest.approx(0.8) and out.embed_ms is not None and out.extra["min_grade"] == "exact"
    with pytest.raises(MrosError, match="BM25"):
        search(cluster, "shop", "q", mode="bm25", min_grade="partial")


def test_query_embedder_says_clearly_when_the_served_model_is_gone(tmp_path: Path):
    with pytest.raises(MrosError, match="is gone") as caught:
        QueryEmbedder(manifest(model_dir=str(tmp_path / "missing")))
    assert "`model` DIR or `run` RUN" in (caught.value.hint or "")  # the library names its parameters,
    assert "--model DIR or --run RUN" in (named_for_the_cli(caught.value).hint or "")  # the CLI its options
    with pytest.raises(MrosError, match="records no served model"):
        QueryEmbedder(manifest(model_dir=None))
    (tmp_path / "run" / "onnx").mkdir(parents=True)
    assert QueryEmbedder(manifest(), run=tmp_path / "run").model_dir == tmp_path / "run" / "onnx"
    assert QueryEmbedder(manifest(), model=tmp_path / "run").model_dir == tmp_path / "run"


# --------------------------------------------------------------------------------------------- live eval


class Judged:
    def __init__(self) -> None:
        self.queries = ["q1", "q2"]
        self.graded = {"q1": {"a": 2, "b": 1, "z": 0}, "q2": {"c": 1}}


def test_quality_uses_graded_gain_and_partial_exact_recall():
    from mr_opensearch.search.live_eval import precision_above, quality

    ranked = {"q1": ["b", "x", "a"], "q2": ["c"]}
    out = quality(ranked, Judged().graded, 100)
    # q1: DCG = 1/log2(2) + 0 + 3/log2(4) = 2.5; ideal = 3 + 1/log2(3); q2: 1.0
    q1 = 2.5 / (3 + 1 / np.log2(3))
    assert out["ndcg@10"] == pytest.approx((q1 + 1.0) / 2)
    assert out["recall@100_partial+"] == pytest.approx(1.0) and out["recall@100_exact"] == pytest.approx(1.0)
    assert precision_above({"q1": ["a", "b", "z", "x"]}, Judged().graded, 2) == {"judged_hits": 3, "precision": 1 / 3}


def test_evaluate_live_and_tune_over_a_scripted_cluster(tmp_path: Path):
    from mr_opensearch.search.live_eval import evaluate_live, save_tuning, tune

    m = manifest(hybrid={"weights": (0.4, 0.6), "lower_bound_mode": "none", "min_score": None,
                         "pagination_depth": 10})
    cluster = FakeCluster({"shop-abc": {}}, {"shop-abc": m.to_meta()}, search_answer=response(("a", 0.9), ("b", 0.7)),
                          msearch_answer=[BM25, KNN])

    class Embedder:
        model_dir = tmp_path

        def encode(self, queries: list[str]) -> np.ndarray:
            return np.array([[0.6, 0.8]] * len(queries))

    report = evaluate_live(cluster, "shop", Judged(), k=10, clients=(1, 2), embedder=Embedder())  # type: ignore[arg-type]
    assert set(report["modes"]) == {"bm25", "dense", "hybrid"} and report["queries"] == 2
    # every scripted search answers a (0.9), b (0.7): q1 DCG = 3 + 1/log2(3) = ideal -> 1; q2 has no c -> 0
    assert report["modes"]["dense"]["quality"]["ndcg@10"] == pytest.approx(0.5)
    assert set(report["modes"]["dense"]["qps"]) == {"1", "2"}
    # radial at exact (0.8): the scripted hits a (exact) and b (partial) are both judged for q1 -> 1/2
    assert report["modes"]["dense"]["boundaries"]["exact"] == {"min_score": pytest.approx(0.8), "judged_hits": 2,
                                                                "precision": 0.5}
    radial = [c[1]["body"]["query"]["knn"]["embedding"] for c in cluster.calls
              if c[0] == "search" and "min_score" in c[1]["body"]["query"].get("knn", {}).get("embedding", {})]
    assert sorted({round(r["min_score"], 6) for r in radial}) == [0.6, 0.8]

    tuned = tune(cluster, "shop", Judged(), k=10, embedder=Embedder())  # type: ignore[arg-type]
    modes = {v["settings"]["lower_bound_mode"] for v in tuned["variants"]}
    assert modes == {"apply", "clip", "none"}
    assert {v["settings"]["weights"][1] for v in tuned["variants"]} == {round(0.1 * i, 1) for i in range(1, 10)}
    bounds = {round(v["settings"]["dense_lower_bound"], 6) for v in tuned["variants"]
              if v["settings"]["lower_bound_mode"] != "none"}
    assert bounds == {0.6}
    assert tuned["best"]["ndcg@10"] == max(v["ndcg@10"] for v in tuned["variants"])

    def plain(dense_weight: float) -> float:
        return next(v["ndcg@10"] for v in tuned["variants"] if v["settings"]["weights"][1] == dense_weight
                    and v["settings"]["lower_bound_mode"] == "none" and v["settings"]["min_score"] is None)

    # dense 0.1: a .94, b .55, d .06, c .0009, e .0001 -> q1 ideal (1.0); q2 c 4th: 1/log2(5)
    assert plain(0.1) == pytest.approx((1.0 + 1 / np.log2(5)) / 2, abs=1e-6)
    # dense 0.9: b .95, d .54, a .46, e .0009, c .0001 -> q1 (1 + 3/log2(4)) / (3 + 1/log2(3)); q2 c 5th: 1/log2(6)
    q1 = (1 + 3 / 2) / (3 + 1 / np.log2(3))
    assert plain(0.9) == pytest.approx((q1 + 1 / np.log2(6)) / 2, abs=1e-6)
    assert tuned["comparison"]["plain_min_max"]["settings"]["lower_bound_mode"] == "none"
    path = save_tuning(tuned, tmp_path / "tuning" / "shop.json")
    assert json.loads(path.read_text())["best"]["settings"] == tuned["best"]["settings"]


def test_grade_metrics_of_the_top_10():
    from mr_opensearch.search.live_eval import quality

    graded = {"q1": {"a": 2, "b": 0, "c": 1}, "q2": {"x": 2}, "q3": {"y": 1}}
    ranked = {"q1": ["a", "b", "c", "u"], "q2": ["u", "v"], "q3": ["y"]}
    out = quality(ranked, graded, 10)
    assert out["exact_precision@10"] == pytest.approx((1 / 10 + 0 + 0) / 3)
    assert out["irrelevant_rate@10"] == pytest.approx((1 / 10) / 3)
    assert out["no_exact@10"] == pytest.approx(0.5)  # q1 has its exact product in the top 10, q2 not; q3 has none judged


def test_score_distribution_by_grade_shares_its_bins():
    from mr_opensearch.search.eval_page import histogram_svg
    from mr_opensearch.search.live_eval import score_distribution

    graded = {"q": {"a": 2, "b": 1, "c": 0}}
    dist = score_distribution({"q": [("a", 0.9), ("b", 0.5), ("c", 0.1), ("u", 0.4)]}, graded, bins=4)
    assert dist["edges"] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    assert dist["counts"] == {"irrelevant": [1, 0, 0, 0], "partial": [0, 0, 1, 0], "exact": [0, 0, 0, 1]}
    assert dist["hits"] == {"irrelevant": 1, "partial": 1, "exact": 1}
    svg = histogram_svg(dist)
    assert svg.count("<polyline") == 3 and "exact (1)" in svg
