"""``mros serve``'s HTTP layer (issue #32): statuses, JSON errors with hints, the concurrency bound, the
metrics, the page. The searcher here is a stand-in object with the Searcher's interface; the real
searcher against the real node is tested in tests/integration/test_service.py."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.queries import MAX_QUERY_CHARS, NO_BADGE, Hit, SearchResult, check_request
from mr_opensearch.service.app import create_app


class StandIn:
    """Answers like a Searcher over a fixed index; can be made to fail or to block."""

    alias = "shop"

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Semaphore(0)

    def search(self, query: str, mode: str = "hybrid", k: int = 10, min_grade: str | None = None) -> SearchResult:
        self.entered.release()
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        query = check_request(query, mode, k, min_grade, 10_000)
        hits = [Hit(1, "p1", "cordless drill", 0.9, "exact", bm25_score=3.0, dense_score=0.8, bm25_normalized=1.0,
                    dense_normalized=0.7),
                Hit(2, "p2", "drill bits", 0.4, NO_BADGE, bm25_score=1.0, bm25_normalized=0.2)][:k]
        return SearchResult(alias="shop", index="shop-abc-def", mode=mode, embedding="client", query=query, k=k,
                            hits=hits, took_ms=3.0, wall_ms=4.0, embed_ms=1.0, requests=[],
                            extra={"model_sha256": "a" * 64, "onnx_sha256": "b" * 64})

    def ready(self) -> Any:
        if self.fail is not None:
            raise self.fail
        from types import SimpleNamespace

        return SimpleNamespace(index="shop-abc-def", manifest=SimpleNamespace(embedding="client", model_sha256="a" * 64))


@pytest.fixture
def stand_in() -> StandIn:
    return StandIn()


def test_search_answers_hits_with_index_model_and_null_badges(stand_in):
    client = TestClient(create_app(stand_in))
    body = client.get("/search", params={"q": "cordless drill", "mode": "hybrid", "k": 5}).json()
    assert body["index"] == "shop-abc-def" and body["model_sha256"] == "a" * 64
    assert [h["grade"] for h in body["hits"]] == ["exact", None]
    assert body["hits"][0]["bm25_normalized"] == 1.0 and body["hits"][0]["dense_normalized"] == 0.7
    assert "judged_query" not in body


def test_judged_grades_and_ndcg_when_the_service_has_judgments(stand_in):
    client = TestClient(create_app(stand_in, judgments={"cordless drill": {"p1": 2, "p3": 2}}))
    body = client.get("/search", params={"q": "cordless drill"}).json()
    assert body["judged_query"] is True and [h["judged"] for h in body["hits"]] == [2, None]
    assert 0 < body["ndcg@10"] < 1
    other = client.get("/search", params={"q": "garden hose"}).json()
    assert other["judged_query"] is False and other["ndcg@10"] is None


@pytest.mark.parametrize(("params", "parameter", "message"), [
    ({"q": "drill", "mode": "fuzzy"}, "mode", "unknown search mode 'fuzzy'"),
    ({"q": "drill", "k": "0"}, "k", "k 0: must be between 1 and 10000"),
    ({"q": "drill", "k": "10001"}, "k", "k 10001: must be between 1 and 10000"),
    ({"q": "drill", "k": "ten"}, "k", "k 'ten' is not a whole number"),
    ({"q": "   "}, "q", "the query is empty"),
    ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "q", f"the query has {MAX_QUERY_CHARS + 1} characters"),
    ({"q": "drill", "mode": "bm25", "min_grade": "exact"}, "min_grade", "min_grade applies to the dense leg"),
    ({"q": "drill", "min_grade": "great"}, "min_grade", "unknown grade 'great'"),
], ids=["mode", "k-zero", "k-over-window", "k-not-int", "empty", "too-long", "bm25-min-grade", "grade"])
def test_bad_requests_are_400_with_a_json_error_and_hint(stand_in, params, parameter, message):
    client = TestClient(create_app(stand_in))
    answer = client.get("/search", params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["parameter"] == parameter and message in body["error"] and body["hint"]
    assert client.get("/search", params={"q": "drill"}).status_code == 200  # and it keeps serving


def test_non_utf8_query_bytes_are_400(stand_in):
    client = TestClient(create_app(stand_in))
    answer = client.get("/search?q=%ff%fe&mode=bm25")
    assert answer.status_code == 400 and "not UTF-8" in answer.json()["error"]


def test_cluster_trouble_is_503_with_retry_after_and_a_crash_is_500(stand_in):
    client = TestClient(create_app(stand_in))
    stand_in.fail = MrosError("alias shop not found on the cluster", "deploy first")
    answer = client.get("/search", params={"q": "drill"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.json() == {"error": "alias shop not found on the cluster", "hint": "deploy first"}
    assert client.get("/readyz").status_code == 503
    stand_in.fail = RuntimeError("boom")
    answer = client.get("/search", params={"q": "drill"})
    assert answer.status_code == 500 and "RuntimeError: boom" in answer.json()["error"]
    stand_in.fail = None
    assert client.get("/search", params={"q": "drill"}).status_code == 200
    assert client.get("/readyz").json()["index"] == "shop-abc-def"


def test_over_the_concurrency_bound_is_503_at_once(stand_in):
    app = create_app(stand_in, max_concurrency=1)
    stand_in.gate = threading.Event()
    with TestClient(app) as client:
        first: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: first.update(r=client.get("/search", params={"q": "drill"})))
        worker.start()
        assert stand_in.entered.acquire(timeout=10)
        second = client.get("/search", params={"q": "drill"})
        stand_in.gate.set()
        worker.join(10)
    assert second.status_code == 503 and second.headers["retry-after"] == "1"
    assert first["r"].status_code == 200


def test_metrics_count_requests_errors_and_name_the_live_index(stand_in):
    client = TestClient(create_app(stand_in))
    client.get("/search", params={"q": "drill", "mode": "dense"})
    client.get("/search", params={"q": "", "mode": "dense"})
    text = client.get("/metrics").text
    assert 'mros_search_requests_total{mode="dense",status="200"} 1.0' in text
    assert 'mros_search_requests_total{mode="dense",status="400"} 1.0' in text
    assert 'mros_search_errors_total{mode="dense",reason="bad_request"} 1.0' in text
    assert 'mros_search_latency_seconds_count{mode="dense"} 2.0' in text
    assert f'mros_live_index_info{{alias="shop",index="shop-abc-def",model_sha256="{"a" * 64}"}} 1.0' in text


def test_health_and_the_page(stand_in):
    client = TestClient(create_app(stand_in, judgments={}))
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/").text
    assert "<title>mros relevance: shop</title>" in page and "const JUDGED = true;" in page
