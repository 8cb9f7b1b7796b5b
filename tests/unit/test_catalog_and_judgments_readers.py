"""The serving side's catalog and judgments readers: the text embedded is training's, and every bad file is a
FILE:LINE error that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_error_hints import expected_hint

from mr_opensearch.core.catalog import read_catalog
from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.judgments import read_judgments


def write(tmp_path: Path, text: str | bytes, name: str = "products.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_embedding_text_equals_trainings(tmp_path):
    from trainer.config import CatalogColumns
    from trainer.data import load_catalog

    path = write(tmp_path, "product_uid,product_title,brand\n1,  Drill kit ,Acme\n2,Sink,\n3,Tile \u00e9t\u00e9,Bo\n")
    ours = read_catalog(path, text_fields=("brand",))
    theirs = load_catalog(path, CatalogColumns(extra_text=["brand"]))
    assert ours.ids == theirs.ids
    assert ours.embedding_texts(("title", "brand")) == theirs.texts
    assert ours.embedding_texts() == [t.strip() for t in ("Drill kit", "Sink", "Tile \u00e9t\u00e9")]


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("product_uid,product_title\n", "no products in the catalog"),
    ("sku,name\n1,a\n", "no id column"),
    ("product_uid,product_title\n1,drill\n1,sink\n", ":3: duplicate product id '1' (first on line 2)"),
    ("product_uid,product_title\n1,\n", ":2: product '1' has an empty product_title"),
    ("product_uid,product_title\n,drill\n", ":2: empty product_uid"),
    ("product_uid,product_title\n1,drill,extra\n", ":2: 3 fields, the header has 2"),
    ('product_uid,product_title\n1,"drill\n2,sink\n3,tile\n', ":2: "),
    ("product_uid,product_title\n1," + "x" * 10001 + "\n", "10001-character title"),
    (b"product_uid,product_title\n1,caf\xe9\n", ":2: not UTF-8"),
])
def test_bad_catalogs_are_refused_with_the_line(tmp_path, content, message):
    with pytest.raises(MrosError) as info:
        read_catalog(write(tmp_path, content))
    assert message in str(info.value)
    assert info.value.hint == expected_hint(info.value.message)


def test_missing_catalog_and_unknown_text_field(tmp_path):
    with pytest.raises(MrosError, match="not found"):
        read_catalog(tmp_path / "nope.csv")
    with pytest.raises(MrosError, match="no column 'brand' for --text-field"):
        read_catalog(write(tmp_path, "product_uid,product_title\n1,a\n"), text_fields=("brand",))


def test_jsonl_catalog(tmp_path):
    path = write(tmp_path, '{"product_id": "a", "title": "drill"}\n{"product_id": "b", "title": "sink"}\n', "c.jsonl")
    assert read_catalog(path).titles == ["drill", "sink"]
    with pytest.raises(MrosError, match=":2: not valid JSON"):
        read_catalog(write(tmp_path, '{"product_id": "a", "title": "x"}\n{oops\n', "d.jsonl"))


def test_judgments_grades_and_errors(tmp_path):
    path = write(tmp_path, "query,product_uid,relevance\ndrill,1,3\ndrill,2,2.33\nsink,3,1\n", "j.csv")
    judged = read_judgments(path)
    assert judged.queries == ["drill", "sink"] and judged.graded == {"drill": {"1": 2, "2": 1}, "sink": {"3": 0}}
    for value in ("0", "4", "1e9", "inf", "nan"):
        bad = write(tmp_path, f"query,product_uid,relevance\nq,1,{value}\n", "bad.csv")
        with pytest.raises(MrosError, match=r":2: relevance .* outside the scale"):
            read_judgments(bad)
    with pytest.raises(MrosError, match=":2: relevance 'high' is not a number"):
        read_judgments(write(tmp_path, "query,product_uid,relevance\nq,1,high\n", "b2.csv"))
    with pytest.raises(MrosError, match="unknown grade 'great'"):
        read_judgments(write(tmp_path, "query,product_uid,grade\nq,1,great\n", "b3.csv"))
    with pytest.raises(MrosError, match="needs columns"):
        read_judgments(write(tmp_path, "q,p\n1,2\n", "b4.csv"))


def test_the_split_matches_trainings():
    from mr_opensearch.search.judgments import split_of
    from trainer.config import SplitConfig
    from trainer.splits import split_of as training_split

    queries = [f"query {i} {'x' * (i % 7)}" for i in range(2000)]
    assert [split_of(q) for q in queries] == [training_split(q, SplitConfig()) for q in queries]
