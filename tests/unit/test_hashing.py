"""One implementation of content hashing (mr_opensearch/core/hashing.py), giving exactly the values the
helpers it replaced gave, so existing step markers, caches and index names stay valid."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

from mr_opensearch.cluster.vector_index import catalog_fingerprint
from mr_opensearch.core.hashing import content_key, file_key, file_sha256, sha256_of_chunks, text_key
from trainer.steps import step_key
from trainer.vector_cache import texts_fingerprint

ROOT = Path(__file__).resolve().parents[2]
SEEDED_DRAWS = {"trainer/splits.py", "mr_opensearch/search/judgments.py"}  # query -> split: SHA-1, not a content hash


def test_the_values_are_those_of_the_replaced_helpers(tmp_path):
    payload = "data" + json.dumps({"epochs": 1}, sort_keys=True)
    assert step_key("data", json.dumps({"epochs": 1}, sort_keys=True)) == hashlib.sha256(payload.encode()).hexdigest()[:16]
    assert text_key(payload) == hashlib.sha256(payload.encode()).hexdigest()[:16]
    parts = ("index-1", {"b": 1, "a": Path("x")})
    assert content_key(*parts) == hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    blob = tmp_path / "model.onnx"
    blob.write_bytes(bytes(range(256)) * 9000)  # more than one 1 MiB block
    assert file_sha256(blob) == hashlib.sha256(blob.read_bytes()).hexdigest()
    assert file_key(blob) == file_sha256(blob)[:16]
    assert sha256_of_chunks([b"ab", b"c"]) == hashlib.sha256(b"abc").hexdigest()
    old_catalog = hashlib.sha256(b"p1\x1fred drill\x1ep2\x1fhose\x1e").hexdigest()
    assert catalog_fingerprint(["p1", "p2"], ["red drill", "hose"]) == old_catalog
    assert texts_fingerprint(["a", "b"]) == hashlib.sha256(b"a\0b\0").hexdigest()[:16]


def test_only_the_hashing_module_uses_hashlib():
    users = set()
    for package in ("mr_opensearch", "trainer"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) else [])
                if "hashlib" in names:
                    users.add(path.relative_to(ROOT).as_posix())
    assert users - SEEDED_DRAWS == {"mr_opensearch/core/hashing.py"}
