"""The cluster client's orjson serializer: the same JSON values as opensearch-py's own, numpy included, the
standard encoder for what orjson refuses, and opensearch-py's errors."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import numpy as np
import pytest
from opensearchpy.exceptions import SerializationError
from opensearchpy.serializer import JSONSerializer

from mr_opensearch.cluster.json_serializer import FastJSONSerializer


def test_it_writes_what_the_standard_serializer_writes_for_a_bulk_line_and_a_knn_query():
    vector = np.random.default_rng(0).random(384, dtype=np.float32)
    body = {"index": {"_index": "products", "_id": "102815"}, "title": "Überhang 3/4 in. – x", "n": 3,
            "embedding": [float(x) for x in vector], "flag": True, "none": None,
            "when": datetime.datetime(2026, 12, 8, 1, 2, 3), "id": uuid.UUID(int=7), "price": decimal.Decimal("2.5")}
    fast, standard = FastJSONSerializer(), JSONSerializer()
    assert json.loads(fast.dumps(body)) == json.loads(standard.dumps(body))


def test_numpy_arrays_and_scalars_keep_their_float32_values():
    vector = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    text = FastJSONSerializer().dumps({"vector": vector, "score": np.float32(0.1), "k": np.int64(10)})
    back = json.loads(text)
    assert np.array_equal(np.asarray(back["vector"], dtype=np.float32), vector)
    assert np.float32(back["score"]) == np.float32(0.1) and back["k"] == 10


def test_what_orjson_refuses_falls_back_to_the_standard_encoder():
    assert json.loads(FastJSONSerializer().dumps({"big": 2**70})) == {"big": 2**70}
    with pytest.raises(SerializationError):
        FastJSONSerializer().dumps({"x": object()})


def test_nan_becomes_null_and_strings_pass_through():
    assert json.loads(FastJSONSerializer().dumps({"x": float("nan")})) == {"x": None}
    assert FastJSONSerializer().dumps('{"already": "json"}') == '{"already": "json"}'


def test_answers_are_read_and_bad_ones_raise_the_clients_error():
    assert FastJSONSerializer().loads('{"took": 3, "hits": {"hits": []}}') == {"took": 3, "hits": {"hits": []}}
    assert FastJSONSerializer().loads(b'[1, 2.5]') == [1, 2.5]
    with pytest.raises(SerializationError):
        FastJSONSerializer().loads("{not json")


def test_an_opensearch_py_client_reads_and_writes_with_it():
    from opensearchpy import OpenSearch

    from mr_opensearch.cluster.json_serializer import FastJSONSerializer as Serializer

    client = OpenSearch(hosts=["http://127.0.0.1:1"], serializer=Serializer())
    assert isinstance(client.transport.serializer, Serializer)
    assert isinstance(client.transport.deserializer.serializers["application/json"], Serializer)
