"""SRW judgment lists and query sets: written by `mros label export --format srw`, read by `mros eval --judgments`;
the round trip loses nothing; bad lists are clear errors or counted skips; --put at the request level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opensearchpy.exceptions import RequestError
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.cli.eval import SrwInput, load_live_judgments
from mr_opensearch.core.errors import MrosError
from mr_opensearch.search import srw
from mr_opensearch.search.judgments import read_judgments

runner = CliRunner()
LABELS = ("query,product_uid,grade\n"
          "red shoes,SKU-42,exact\nred shoes,SKU-7,irrelevant\nred shoes,SKU-9,partial\n"
          "\"tv, 55 inch\",100001,2\nöl filter ☃,100002,1\n")


def _labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(LABELS, encoding="utf-8")
    return path


def test_export_then_read_is_lossless(tmp_path):
    labels = _labels(tmp_path)
    result = runner.invoke(app, ["label", "export", "--labels", str(labels), "--format", "srw", "--out",
                                 str(tmp_path / "srw"), "--name", "graded-v1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scale"] == "0 = irrelevant, 1 = partial, 2 = exact" and summary["pairs"] == 5
    body = json.loads((tmp_path / "srw" / "judgments.json").read_text(encoding="utf-8"))
    assert body["type"] == "IMPORT_JUDGMENT" and body["name"] == "graded-v1"
    assert "0 = irrelevant, 1 = partial, 2 = exact" in body["description"]  # the scale stated
    assert body["judgmentRatings"][0] == {"query": "red shoes", "ratings": [
        {"docId": "SKU-42", "rating": "2"}, {"docId": "SKU-7", "rating": "0"}, {"docId": "SKU-9", "rating": "1"}]}
    query_set = json.loads((tmp_path / "srw" / "query_set.json").read_text(encoding="utf-8"))
    assert query_set["sampling"] == "manual"
    assert [q["queryText"] for q in query_set["querySetQueries"]] == ["red shoes", "tv, 55 inch", "öl filter ☃"]
    # round trip: mros -> SRW -> mros
    original = read_judgments(labels)
    back, read = srw.parse_judgments(body, "judgments.json")
    assert back.queries == original.queries and back.graded == original.graded and not read.skipped
    queries, answers = srw.parse_query_set(query_set, "query_set.json")
    assert queries == original.queries and set(answers.values()) == {""}
    # and the same through the live evaluation's reader, restricted to the query set
    judged, summary = load_live_judgments(tmp_path / "srw" / "judgments.json",
                                          SrwInput(query_set=tmp_path / "srw" / "query_set.json"), client=None)
    assert judged.graded == original.graded and summary["skipped"] == {}


def test_numbers_and_numeric_strings_read_as_grades():
    body = {"judgmentRatings": [{"query": "q", "ratings": [{"docId": "a", "rating": 2}, {"docId": "b", "rating": "1.0"},
                                                           {"docId": "c", "rating": 0.0}]}]}
    judged, _ = srw.parse_judgments(body, "b")
    assert judged.graded == {"q": {"a": 2, "b": 1, "c": 0}}


@pytest.mark.parametrize(("rating", "message"), [
    ("3", "outside the stated scale"), ("-1", "outside the stated scale"), ("0.5", "outside the stated scale"),
    ("high", "does not parse as a number"), (None, "is not a number"), (True, "is not a number"),
    ("NaN", "not a finite number")])
def test_ratings_outside_the_scale_are_errors(rating: Any, message: str):
    body = {"judgmentRatings": [{"query": "red shoes", "ratings": [{"docId": "SKU-42", "rating": rating}]}]}
    with pytest.raises(MrosError, match=message) as info:
        srw.parse_judgments(body, "list.json")
    assert "'red shoes'" in info.value.message and "SKU-42" in info.value.message


def test_continuous_ratings_with_cuts():
    body = {"judgmentRatings": [{"query": "q", "ratings": {"a": "0.100", "b": "0.900", "c": "2.500"}}]}  # COEC's shape
    judged, _ = srw.parse_judgments(body, "coec", cuts=(0.5, 1.5))
    assert judged.graded == {"q": {"a": 0, "b": 1, "c": 2}}
    with pytest.raises(MrosError, match="negative"):
        srw.parse_judgments({"judgmentRatings": [{"query": "q", "ratings": {"a": "-0.1"}}]}, "coec", cuts=(0.5, 1.5))


def test_queries_matching_none_of_the_catalog_are_counted_skips():
    body = {"judgmentRatings": [
        {"query": "known", "ratings": [{"docId": "p1", "rating": "2"}, {"docId": "zz", "rating": "0"}]},
        {"query": "elsewhere", "ratings": [{"docId": "x1", "rating": "1"}, {"docId": "x2", "rating": "0"}]},
        {"query": "known", "ratings": [{"docId": "p1", "rating": "2"}]}]}
    judged, read = srw.parse_judgments(body, "list", catalog_ids={"p1", "p2"})
    assert judged.graded == {"known": {"p1": 2}}
    assert read.skipped == {"ratings whose docId is not a catalog id": 3, "queries that match none of the catalog": 1,
                            "repeated (query, docId) ratings merged": 1}
    assert read.examples["queries that match none of the catalog"] == ["elsewhere"]
    with pytest.raises(MrosError, match="no rated query is left"):
        srw.parse_judgments({"judgmentRatings": body["judgmentRatings"][1:2]}, "list", catalog_ids={"p1"})


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "x"}, "not an SRW judgment list"), ({"judgmentRatings": []}, "empty"),
    ({"judgmentRatings": [{"ratings": []}]}, "no query text"),
    ({"judgmentRatings": [{"query": "q", "ratings": [{"rating": "1"}]}]}, "no docId"),
    ({"judgmentRatings": [{"query": "q", "ratings": [{"docId": "a", "rating": "1"}, {"docId": "a", "rating": "2"}]}]},
     "rated 2 here but 1 before")])
def test_malformed_lists_are_errors(body, message):
    with pytest.raises(MrosError, match=message):
        srw.parse_judgments(body, "list")


def test_a_fetched_list_is_unwrapped():
    doc = {"judgmentRatings": [{"query": "q", "ratings": [{"docId": "a", "rating": "1"}]}]}
    for answer in (doc, {"_id": "j1", "_source": doc}, {"hits": {"hits": [{"_id": "j1", "_source": doc}]}}):
        assert srw.parse_judgments(answer, "srw:j1")[0].graded == {"q": {"a": 1}}


def test_query_set_restricts_and_counts(tmp_path):
    labels = _labels(tmp_path)
    judged = read_judgments(labels)
    read = srw.SrwRead("qs")
    kept = srw.restrict(judged, ["tv, 55 inch", "never judged", "red shoes"], read)
    assert kept.queries == ["tv, 55 inch", "red shoes"]
    assert read.skipped == {"judged queries not in the query set": 1, "query-set queries without judgments": 1}
    with pytest.raises(MrosError, match="no query of the query set"):
        srw.restrict(judged, ["Red Shoes"], srw.SrwRead("qs"))  # exact text, as SRW matches
    with pytest.raises(MrosError, match="no queryText"):
        srw.parse_query_set({"querySetQueries": [{"referenceAnswer": "x"}]}, "qs")


def test_names_and_descriptions_within_srw_limits(tmp_path):
    judged = read_judgments(_labels(tmp_path))
    with pytest.raises(MrosError, match="1 to 50 characters"):
        srw.judgments_body(judged, "n" * 51)
    with pytest.raises(MrosError, match="at most 250"):
        srw.query_set_body(judged.queries, "ok", "d" * 251)


class FakeTransport:
    def __init__(self, answers: dict[tuple[str, str], Any]):
        self.answers, self.sent = answers, []

    def perform_request(self, method: str, path: str, body: Any = None) -> Any:
        self.sent.append((method, path, body))
        answer = self.answers[(method, path)]
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeClient:
    def __init__(self, plugins: list[str], answers: dict[tuple[str, str], Any]):
        self._plugins, self.transport = plugins, FakeTransport(answers)
        self.cat = self

    def plugins(self, format: str) -> list[dict[str, str]]:
        return [{"component": name} for name in self._plugins]


def test_put_sends_the_documented_requests(tmp_path):
    judged = read_judgments(_labels(tmp_path))
    client = FakeClient(["opensearch-search-relevance"], {
        ("PUT", "/_plugins/_search_relevance/judgments"): {"judgment_id": "j-1", "status": "CREATED"},
        ("PUT", "/_plugins/_search_relevance/query_sets"): {"query_set_id": "qs-1"}})
    body = srw.judgments_body(judged, "graded-v1")
    assert srw.put(client, "judgments", body) == {"judgment_id": "j-1", "status": "CREATED"}
    assert client.transport.sent == [("PUT", "/_plugins/_search_relevance/judgments", body)]
    srw.put(client, "query_sets", srw.query_set_body(judged.queries, "graded-v1"))
    assert client.transport.sent[-1][1] == "/_plugins/_search_relevance/query_sets"
    with pytest.raises(MrosError, match="at most 1000"):
        srw.put(client, "query_sets", srw.query_set_body([f"q{i}" for i in range(1001)], "big"))


def test_fetch_by_id_through_mros_eval_reader():
    doc = {"judgmentRatings": [{"query": "q", "ratings": [{"docId": "a", "rating": "2"}]}]}
    client = FakeClient(["opensearch-search-relevance"], {
        ("GET", "/_plugins/_search_relevance/judgments/j-1"): {"hits": {"hits": [{"_source": doc}]}},
        ("GET", "/_plugins/_search_relevance/query_sets/qs-1"): {"_source": {"querySetQueries": [{"queryText": "q"}]}},
        ("GET", "/_plugins/_search_relevance/judgments/nope"): RequestError(404, "not_found", {"error": "missing"})})
    judged, _ = load_live_judgments(Path("srw:j-1"), SrwInput(query_set=Path("srw:qs-1")), client)
    assert judged.graded == {"q": {"a": 2}}
    with pytest.raises(MrosError, match="not found"):
        load_live_judgments(Path("srw:nope"), SrwInput(), client)


def test_a_cluster_without_srw_is_a_clear_error():
    client = FakeClient(["opensearch-knn"], {})
    with pytest.raises(MrosError, match="no Search Relevance Workbench") as info:
        srw.fetch(client, "judgments", "j-1")
    assert "mros label export --format srw" in info.value.hint and client.transport.sent == []
    # the plugin listed but its REST handler absent (3.1 with the workbench off, or a proxy): the answer says so
    client = FakeClient(["opensearch-search-relevance"], {("PUT", "/_plugins/_search_relevance/judgments"): RequestError(
        400, "illegal_argument_exception", {"error": "no handler found for uri [/_plugins/_search_relevance/judgments]"})})
    with pytest.raises(MrosError, match="has no Search Relevance Workbench"):
        srw.put(client, "judgments", {"name": "x"})


def test_srw_cuts_are_checked():
    with pytest.raises(MrosError, match="PARTIAL,EXACT"):
        load_live_judgments(Path("x.csv"), SrwInput(cuts="high"), client=None)
