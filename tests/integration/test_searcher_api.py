"""The public Python API against a client-mode deploy on the real local node (issue #32): the
searcher answers what ``mros search`` answers, names the index and model, and follows the alias."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mr_opensearch import Searcher, SearchInputError, connect_cluster
from mr_opensearch.cli import app
from mr_opensearch.search.judgments import read_judgments
from mr_opensearch.search.queries import live_index

pytestmark = pytest.mark.integration


def _cli_search(url: str, alias: str, query: str, mode: str, k: int) -> dict[str, Any]:
    outcome = CliRunner().invoke(app, ["--no-progress", "search", query, "--alias", alias, "--mode", mode,
                                       "--k", str(k), "--json", "--url", url])
    assert outcome.exit_code == 0, outcome.output
    return json.loads(outcome.stdout)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_the_searcher_answers_what_mros_search_answers(opensearch_url: str, deployed_alias: tuple, mode: str):
    _client, alias, _run, judgments = deployed_alias
    searcher = Searcher(connect_cluster(opensearch_url), alias)
    index, manifest = live_index(searcher.client, alias)
    for query in read_judgments(judgments).queries[:5]:
        cli = _cli_search(opensearch_url, alias, query, mode, 10)
        api = searcher.search(query, mode=mode, k=10)
        assert api.index == cli["index"] == index
        assert api.extra["model_sha256"] == manifest.model_sha256
        assert [h.product_id for h in api.hits] == [h["product_id"] for h in cli["hits"]]
        assert [h.grade for h in api.hits] == [h["grade"] for h in cli["hits"]]
        assert [h.score for h in api.hits] == pytest.approx([h["score"] for h in cli["hits"]], rel=1e-6)


def test_the_searcher_refuses_what_it_cannot_answer(opensearch_url: str, deployed_alias: tuple):
    _client, alias, _run, _judgments = deployed_alias
    searcher = Searcher(connect_cluster(opensearch_url), alias)
    for kwargs, parameter in [({"mode": "fuzzy"}, "mode"), ({"k": 0}, "k"), ({"k": 10_001}, "k")]:
        with pytest.raises(SearchInputError) as err:
            searcher.search("drill", **kwargs)
        assert err.value.parameter == parameter and err.value.exit_code == 2
    with pytest.raises(SearchInputError, match="the query is empty"):
        searcher.search("  ", mode="dense")


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_the_orjson_client_answers_as_opensearch_pys_own_serializer(opensearch_url: str, deployed_alias: tuple,
                                                                    mode: str):
    """``connect_cluster`` reads and writes JSON with orjson; the same searches through a client on
    opensearch-py's standard serializer give the same hits and scores, to the bit."""
    from opensearchpy.serializer import JSONSerializer

    from mr_opensearch.cluster.json_serializer import FastJSONSerializer

    _client, alias, _run, judgments = deployed_alias
    fast = Searcher(connect_cluster(opensearch_url), alias)
    assert isinstance(fast.client.transport.serializer, FastJSONSerializer)
    standard_client = connect_cluster(opensearch_url)
    standard_client.transport.serializer = JSONSerializer()
    standard_client.transport.deserializer.serializers["application/json"] = JSONSerializer()
    standard = Searcher(standard_client, alias)
    for query in read_judgments(judgments).queries[:5]:
        a, b = fast.search(query, mode=mode, k=10), standard.search(query, mode=mode, k=10)
        assert [(h.product_id, h.title, h.score, h.grade, h.dense_score, h.bm25_normalized) for h in a.hits] == \
               [(h.product_id, h.title, h.score, h.grade, h.dense_score, h.bm25_normalized) for h in b.hits]
