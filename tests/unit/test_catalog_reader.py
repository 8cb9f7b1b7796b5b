"""Serving readers beyond the basics in test_catalog_and_judgments_readers.py: the exact FILE:LINE text of each
catalog error, training's embedding text on a messy file, the shared catalog fingerprint, and the judgments
reader cutting relevance with :class:`mr_opensearch.core.grading.GradeMapping` (which training's mapping reuses)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from catalog_error_hints import expected_hint

from mr_opensearch.core.catalog import catalog_fingerprint, read_catalog
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.grading import GRADE_NAMES, GradeMapping, parse_grade_name
from mr_opensearch.search.judgments import read_judgments


def write(tmp_path: Path, text: str | bytes, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize(("content", "where", "problem"), [
    ("", "", "the file is empty"),
    ("product_uid,product_title\n\n", "", "no products in the catalog (only a header)"),
    ("sku,product_title\n1,a\n", ":1", "no id column (looked for product_uid, product_id, id; found sku, product_title)"),
    ("product_uid,name\n1,a\n", ":1", "no title column (looked for product_title, title; found product_uid, name)"),
    ("product_uid,product_title\n7,drill\n8,saw\n7,sink\n", ":4", "duplicate product id '7' (first on line 2)"),
    ("product_uid,product_title\n1,drill\n2,   \n", ":3", "product '2' has an empty product_title"),
    ("product_uid,product_title\n1,drill\n2\n", ":3", "1 fields, the header has 2"),
    ('product_uid,product_title\n1,drill\n2,"sink\n3,tile\n4,saw\n', ":3", "an unclosed quote: a quoted field opened on this row does not close before line 5"),
    ('product_uid,product_title\n1,"drill\n2,sink"\n3,saw\n', ":2", "an unclosed quote: a quoted field opened on this line runs over 2 lines (to line 3)"),
    ("product_uid,product_title\n1,ok\n2," + "t" * 10_001 + "\n", ":3",
     "product '2' has a 10001-character title (limit 10000)"),
    (b"product_uid,product_title\n1,ok\n2,ok\n3,caf\xe9\n", ":4", "not UTF-8 (byte 0xe9 at offset"),
])
def test_each_catalog_error_names_the_file_and_line(tmp_path, content, where, problem):
    path = write(tmp_path, content)
    with pytest.raises(MrosError) as info:
        read_catalog(path)
    assert info.value.message.startswith(f"{path}{where}: {problem}")
    assert info.value.hint == expected_hint(info.value.message)


def test_a_title_of_exactly_ten_thousand_characters_is_kept(tmp_path):
    assert read_catalog(write(tmp_path, "id,title\n1," + "t" * 10_000 + "\n")).titles == ["t" * 10_000]


def test_jsonl_catalog_errors_and_aliases(tmp_path):
    path = write(tmp_path, '{"id": 5, "title": " Saw ", "brand": null}\n\n{"id": "6", "title": "Tile", "brand": "Bo"}\n',
                 "c.jsonl")
    catalog = read_catalog(path, text_fields=("brand",))
    assert (catalog.ids, catalog.titles, catalog.extra) == (["5", "6"], ["Saw", "Tile"], {"brand": ["", "Bo"]})
    assert catalog.embedding_texts(("title", "brand")) == ["Saw", "Tile | Bo"]
    bad = write(tmp_path, '{"id": 1, "title": "a"}\n[1, 2]\n', "bad.jsonl")
    with pytest.raises(MrosError, match=r"bad.jsonl:2: expected a JSON object per line"):
        read_catalog(bad)


def test_explicit_columns_win_over_the_defaults(tmp_path):
    path = write(tmp_path, "product_uid,sku,product_title,name\n1,A,drill,Drill X\n2,B,saw,Saw Y\n")
    catalog = read_catalog(path, id_column="sku", title_column="name")
    assert (catalog.ids, catalog.titles) == (["A", "B"], ["Drill X", "Saw Y"])


def test_embedding_text_and_fingerprint_equal_trainings_on_a_messy_file(tmp_path):
    from mr_opensearch.cluster.vector_index import catalog_fingerprint as index_fingerprint
    from trainer.config import CatalogColumns
    from trainer.data import load_catalog

    content = ('product_uid,product_title,brand,color\n'
               '10,"  Drill, cordless  ",  Acme ,red\n'
               '11,Sink,,\n'
               '12,"Tile ""été""",Bo,  \n'
               '13,\ttab title\t, , blue\n')
    path = write(tmp_path, content)
    ours = read_catalog(path, text_fields=("brand", "color"))
    theirs = load_catalog(path, CatalogColumns(extra_text=["brand", "color"]))
    texts = ours.embedding_texts(("title", "brand", "color"))
    assert texts == theirs.texts == ["Drill, cordless | Acme | red", "Sink", 'Tile "été" | Bo', "tab title | blue"]
    assert ours.embedding_texts() == ["Drill, cordless", "Sink", 'Tile "été"', "tab title"]
    assert catalog_fingerprint is index_fingerprint
    assert ours.fingerprint(("title", "brand", "color")) == index_fingerprint(theirs.ids, theirs.texts)
    assert ours.fingerprint() != ours.fingerprint(("title", "brand", "color"))


def test_grade_mapping_cuts_the_scale_and_refuses_values_outside_it():
    m = GradeMapping()
    assert [m.grade_of(s) for s in (3, 2.67, 2.669, 2.33, 2.0, 1.99, 1)] == [2, 2, 1, 1, 1, 0, 0]
    assert GRADE_NAMES[m.grade_of(2.5)] == "partial"
    for value in (0, 4, 1e9, math.inf, -math.inf, math.nan):
        with pytest.raises(MrosError, match=r"relevance .* is outside the scale 1\.\.3"):
            m.grade_of(value)
    with pytest.raises(MrosError, match="relevance 'high' is not a number"):
        m.grade_of_text(" high ")
    five = GradeMapping(exact=4.5, partial=3.0, low=1, high=5)
    assert [five.grade_of(s) for s in (5, 4.5, 4, 3, 2.9, 1)] == [2, 2, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="low <= partial < exact <= high"):
        GradeMapping(exact=2.0, partial=2.5)
    with pytest.raises(ValueError, match="low <= partial < exact <= high"):
        GradeMapping(exact=3.5)


def test_grade_names_are_the_ones_training_accepts():
    from trainer.grades import GRADE_NAMES as TRAINING_NAMES
    from trainer.grades import GradeMapping as TrainingMapping

    for name, grade in TRAINING_NAMES.items():
        assert parse_grade_name(name.upper()) == int(grade)
    assert [parse_grade_name(v) for v in ("0", "1", "2", "2.0")] == [0, 1, 2, 2]
    with pytest.raises(MrosError, match="unknown grade '3'"):
        parse_grade_name("3")
    training, serving = TrainingMapping(), GradeMapping()
    scores = [1 + i / 300 for i in range(601)]
    assert [int(training.grade_of_score(s)) for s in scores] == [serving.grade_of(s) for s in scores]


def test_judgments_with_a_mapping_grade_names_and_row_errors(tmp_path):
    path = write(tmp_path, "query,product_id,relevance\ndrill,1,5\ndrill,2,3.5\nsaw,1,1\ndrill,1,5\n", "j.csv")
    judged = read_judgments(path, GradeMapping(exact=4.5, partial=3.0, low=1, high=5))
    assert judged.queries == ["drill", "saw"] and judged.graded == {"drill": {"1": 2, "2": 1}, "saw": {"1": 0}}
    with pytest.raises(MrosError) as info:
        read_judgments(path)
    assert info.value.message == f"{path}:2: relevance '5' is outside the scale 1..3"
    names = write(tmp_path, "query,product_uid,grade\nq,1,E\nq,2,Substitute\nq,3,i\n", "n.csv")
    assert read_judgments(names).graded == {"q": {"1": 2, "2": 1, "3": 0}}
    cases = {
        "query,product_uid,relevance\nq,1,3\n  ,2,3\n": ":3: empty query or product id",
        "query,product_uid,relevance\nq,1,3\nq,2,3,extra\n": ":3: 4 fields, the header has 3",
        "query,product_uid,relevance\nq,1,3\nq,2\n": ":3: 2 fields, the header has 3",
        "query,product_uid,relevance\nq,1,3\nr,1,2\nq,1,1\n": ":4: pair ('q', '1') graded 0 here but 2 on line 2",
        "query,product_uid,grade\nq,1,2\nq,2,great\n": ":3: unknown grade 'great'",
    }
    for content, message in cases.items():
        bad = write(tmp_path, content, "bad.csv")
        with pytest.raises(MrosError) as info:
            read_judgments(bad)
        assert info.value.message.startswith(f"{bad}{message}"), info.value.message


@pytest.mark.parametrize(("pid", "message"), [
    ("x" * 513, "is 513 bytes long (OpenSearch's limit for a document id is 512 bytes)"),
    ("é" * 257, "is 514 bytes long"),
    ("sku\x07bell", "holds control characters (U+0007)"),
    ("tab\tid", "holds control characters (U+0009)"),
], ids=["ascii-513", "utf8-514-bytes", "bell", "tab"])
def test_ids_the_cluster_would_refuse_are_refused_while_reading(tmp_path, pid, message):
    path = tmp_path / "products.jsonl"
    path.write_text(json.dumps({"product_uid": "1", "product_title": "drill"}) + "\n"
                    + json.dumps({"product_uid": pid, "product_title": "saw"}) + "\n", encoding="utf-8")
    with pytest.raises(MrosError) as err:
        read_catalog(path)
    assert f"{path}:2:" in err.value.message and message in err.value.message
    assert err.value.hint


def test_an_id_of_exactly_512_bytes_is_accepted(tmp_path):
    path = tmp_path / "products.jsonl"
    path.write_text(json.dumps({"product_uid": "x" * 512, "product_title": "saw"}) + "\n", encoding="utf-8")
    assert read_catalog(path).ids == ["x" * 512]
