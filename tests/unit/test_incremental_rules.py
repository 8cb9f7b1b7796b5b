"""When a deploy may reuse the live index's vectors (``incremental.why_full``) and when ``--in-place`` may
update it (``in_place.why_not_in_place``): every reason is named, in one line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mr_opensearch.deploy.deploy import DeployOptions, DeployTarget
from mr_opensearch.deploy.in_place import why_not_in_place
from mr_opensearch.deploy.incremental import why_full
from mr_opensearch.search.manifest import Manifest


def _manifest(**changes) -> Manifest:
    base = {"index": "shop-a-b", "alias": "shop", "model_sha256": "m" * 64, "onnx_sha256": "o" * 64,
            "catalog_sha256": "c" * 64, "embedding": "client", "dimension": 384, "documents": 10, "complete": True,
            "text_analyzer": "english"}
    return Manifest(**{**base, **changes})


@pytest.mark.parametrize(("live", "reason"), [
    (None, "was not made by mros"),
    (_manifest(complete=False), "is incomplete"),
    (_manifest(model_sha256="x" * 64), "serves another model"),
    (_manifest(onnx_sha256="x" * 64), "serves another model"),
    (_manifest(embedding="engine"), "is embedded in engine mode, this deploy in client mode"),
    (_manifest(dimension=768), "holds 768-d vectors, the model makes 384-d"),
    (_manifest(space_type="l2"), "uses space type l2, not cosinesimil"),
    (_manifest(text_analyzer="standard"), "analyses text with standard, not english"),
    (_manifest(text_fields=["title", "brand"]), "has other text fields"),
    (_manifest(embedding_fields=["title", "brand"]), "embeds other fields"),
    (_manifest(), None),
], ids=["foreign", "incomplete", "model", "onnx", "mode", "dimension", "space", "analyzer", "text-fields",
        "embedding-fields", "reusable"])
def test_why_a_deploy_is_full(live, reason):
    assert why_full(live, _manifest(index="shop-a-c")) == reason


def test_a_semantic_layout_is_always_full():
    semantic = _manifest(embedding="engine", vector_layout="semantic")
    assert "semantic field" in why_full(semantic, semantic.model_copy(update={"index": "shop-a-c"}))


MODEL = SimpleNamespace(sha256="m" * 64, onnx_sha256="o" * 64, dimension=384)
TARGET = DeployTarget(name="shop-a-c", ids=["1"], titles=["t"], texts=["t"], extra={}, text_fields=["title"],
                      embedding_fields=["title"], catalog_sha="d" * 64)
OPTIONS = DeployOptions(alias="shop", text_analyzer="english")


@pytest.mark.parametrize(("live", "embedding", "reason"), [
    (None, "client", "the live index shop-a-b was not made by mros"),
    (_manifest(complete=False), "client", "is incomplete"),
    (_manifest(model_sha256="x" * 64), "client", "serves model xxxxxxxxxxxx, this run's is mmmmmmmmmmmm"),
    (_manifest(), "engine", "is embedded in client mode, this deploy asks for engine mode"),
    (_manifest(dimension=768), "client", "holds 768-d vectors"),
    (_manifest(text_analyzer="standard"), "client", "analyses text with standard, not english"),
    (_manifest(text_fields=["title", "brand"]), "client", "has the text fields ['title', 'brand']"),
    (_manifest(), "client", None),
], ids=["foreign", "incomplete", "model", "mode", "dimension", "analyzer", "fields", "allowed"])
def test_why_in_place_is_refused(live, embedding, reason):
    got = why_not_in_place("shop-a-b", live, MODEL, TARGET, OPTIONS, embedding)
    assert (got is None) if reason is None else (reason in got), got
