"""The deploy's own inputs, checked before any cluster is contacted: the manifest's score conversion and
badges, alias names, and run directories with missing or broken pieces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy.preflight import check_index_name, parse_version
from mr_opensearch.search.manifest import Boundaries, Manifest, cosine_to_score, score_to_cosine
from mr_opensearch.search.served_model import load_run, read_boundaries_file


def test_lucene_cosinesimil_score_is_one_plus_cosine_over_two():
    assert cosine_to_score(0.6) == pytest.approx(0.8)
    assert cosine_to_score(-1.0) == 0.0
    assert score_to_cosine(cosine_to_score(0.37)) == pytest.approx(0.37)
    assert cosine_to_score(0.5, "innerproduct") == pytest.approx(1.5)
    assert cosine_to_score(-0.5, "innerproduct") == pytest.approx(1 / 1.5)
    with pytest.raises(MrosError, match="not a finite cosine"):
        cosine_to_score(float("nan"))


def test_boundaries_give_badges_and_radial_thresholds_in_engine_score():
    b = Boundaries.from_cosines(0.2, 0.6)
    assert b.engine_score == {"partial": pytest.approx(0.6), "exact": pytest.approx(0.8)}
    assert [b.grade_of_score(s) for s in (0.59, 0.6, 0.79, 0.8, 0.95)] == [
        "irrelevant", "partial", "partial", "exact", "exact"]
    assert b.min_score("partial") == pytest.approx(0.6) and b.min_score("exact") == pytest.approx(0.8)
    with pytest.raises(MrosError, match="out of order"):
        Boundaries.from_cosines(0.7, 0.6)


def test_manifest_round_trips_through_meta_and_ignores_foreign_indices():
    m = Manifest(index="a-1", alias="a", model_sha256="0" * 64, catalog_sha256="1" * 64, embedding="client",
                 dimension=8, documents=3, boundaries=Boundaries.from_cosines(0.1, 0.5))
    again = Manifest.from_meta(json.loads(json.dumps(m.to_meta())), "a-1")
    assert again == m
    assert Manifest.from_meta({"complete": True}, "x") is None and Manifest.from_meta(None, "x") is None
    with pytest.raises(MrosError, match="unreadable mros manifest"):
        Manifest.from_meta({"created_by": "mros", "index": "x"}, "x")


@pytest.mark.parametrize("name, problem", [
    ("Products", "upper-case"), ("my products", "contains"), ("a*b", "contains"), ("_hidden", "starts with"),
    ("", "empty"), ("..", "'.' or '..'"), ("x" * 201, "longer than"), ("a:b", "contains"),
])
def test_invalid_alias_names_are_usage_errors(name, problem):
    with pytest.raises(MrosError, match=problem) as info:
        check_index_name(name)
    assert info.value.exit_code == 2


def test_valid_alias_name_and_versions():
    assert check_index_name("products-v2.1") == "products-v2.1"
    assert parse_version("3.5.0") == (3, 5, 0) and parse_version("2.19.1-SNAPSHOT") == (2, 19, 1)
    with pytest.raises(MrosError, match="cannot read the cluster version"):
        parse_version("banana")


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "onnx" / "int8").mkdir(parents=True)
    (run / "onnx" / "int8" / "model.onnx").write_bytes(b"onnx")
    (run / "onnx" / "int8" / "tokenizer.json").write_text("{}")
    (run / "onnx" / "ml-commons.json").write_text(json.dumps({
        "model_content_hash_value": "a" * 64, "variant": "int8",
        "model_config": {"embedding_dimension": 8, "pooling_mode": "MEAN", "normalize_result": True}}))
    (run / "boundaries.json").write_text(json.dumps({"partial": 0.2, "exact": 0.6}))
    return run


def test_a_complete_run_directory_loads(tmp_path):
    model = load_run(_run(tmp_path))
    assert model.dimension == 8 and model.sha256 == "a" * 64 and model.space_type == "cosinesimil"
    assert model.boundaries.cosine == {"partial": 0.2, "exact": 0.6}


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "onnx" / "ml-commons.json").unlink(), "mros export --run"),
    (lambda r: (r / "onnx" / "ml-commons.json").write_text("{not json"), "not valid JSON"),
    (lambda r: (r / "onnx" / "ml-commons.json").write_text("[1]"), "expected a JSON object"),
    (lambda r: (r / "onnx" / "ml-commons.json").write_text('{"model_config": {}}'), "not an ML Commons register body"),
    (lambda r: (r / "onnx" / "ml-commons.json").write_text(json.dumps(
        {"model_content_hash_value": "a" * 64, "model_config": {}})), "no embedding_dimension"),
    (lambda r: (r / "onnx" / "ml-commons.json").write_text(json.dumps(
        {"model_content_hash_value": "a" * 64, "model_config": {"embedding_dimension": 0}})), "out of range"),
    (lambda r: (r / "onnx" / "int8" / "model.onnx").unlink(), "part of the exported model"),
    (lambda r: (r / "onnx" / "int8" / "tokenizer.json").unlink(), "part of the exported model"),
    (lambda r: (r / "boundaries.json").write_text('{"partial": 0.7, "exact": 0.3}'), "out of order"),
    (lambda r: (r / "boundaries.json").write_text('{"partial": 0.1}'), "needs numeric"),
    (lambda r: (r / "boundaries.json").write_text('{"partial": 2, "exact": 3}'), "out of range"),
    (lambda r: (r / "boundaries.json").write_bytes(b"\xff\xfe"), "not valid JSON"),
])
def test_a_run_with_missing_or_broken_pieces_is_refused(tmp_path, damage, message):
    run = _run(tmp_path)
    damage(run)
    with pytest.raises(MrosError, match=message):
        load_run(run)


def test_missing_run_directory(tmp_path):
    with pytest.raises(MrosError, match=r"run directory .* not found"):
        load_run(tmp_path / "nope")
    with pytest.raises(MrosError, match="not found"):
        read_boundaries_file(tmp_path / "boundaries.json")
