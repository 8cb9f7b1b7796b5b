"""One row reader (mr_opensearch/core/table_file.py) behind the serving catalog, the serving judgments and
training's data files: the same bad text gets the same located message from all three."""

from __future__ import annotations

from pathlib import Path

import pytest

from mr_opensearch.core.catalog import read_catalog
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.table_file import DataError, RowProblem, decode_utf8, table_rows
from mr_opensearch.search.judgments import read_judgments
from trainer.data import iter_records

CATALOG = "product_uid,product_title\n"
JUDGMENTS = "query,product_uid,relevance\n"


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _training_error(path: Path, required: list[str]) -> str:
    with pytest.raises(DataError) as err:
        for _line, record in iter_records(path, required):
            if "__error__" in record:
                raise DataError(path, _line, str(record["__error__"]))
    return err.value.message


@pytest.mark.parametrize(("body", "expected"), [
    ('1,"drill\n2,sink"\n3,saw\n',
     ":2: an unclosed quote: a quoted field opened on this line runs over 2 lines (to line 3), merging the rows "
     "in between"),
    ('1,drill\n2,"sink\n3,tile\n',
     ":3: an unclosed quote: a quoted field opened on this row does not close before line 4 (unexpected end of data)"),
], ids=["closed-rows-later", "never-closed"])
def test_an_unclosed_quote_is_refused_alike_by_the_catalog_and_training(tmp_path, body, expected):
    path = _write(tmp_path, "products.csv", CATALOG + body)
    with pytest.raises(MrosError) as serving:
        read_catalog(path)
    assert serving.value.message == f"{path}{expected}"
    assert _training_error(path, ["product_uid", "product_title"]) == f"{path}{expected}"


def test_the_serving_judgments_reader_no_longer_merges_rows_under_an_unclosed_quote(tmp_path):
    # csv.DictReader read '"drill\nq2,2,1' as one query and returned two rows instead of refusing
    path = _write(tmp_path, "judgments.csv", JUDGMENTS + 'q1,1,3\n"drill\nq2,2,1\nq3,3,2"\n')
    with pytest.raises(MrosError) as err:
        read_judgments(path)
    assert err.value.message == (f"{path}:3: an unclosed quote: a quoted field opened on this line runs over 3 lines "
                                 "(to line 5), merging the rows in between")
    assert "close the quote" in err.value.hint


def test_a_row_with_the_wrong_field_count_stops_serving_and_is_skippable_in_training(tmp_path):
    path = _write(tmp_path, "judgments.csv", JUDGMENTS + "q,1,3\nq,2,3,extra\nq,3,1\n")
    with pytest.raises(MrosError) as err:
        read_judgments(path)
    assert err.value.message == f"{path}:3: 4 fields, the header has 3 (query, product_uid, relevance)"
    assert err.value.hint == "quote fields that contain the delimiter, or fix the row"
    records = list(iter_records(path, ["query", "product_uid", "relevance"]))
    assert records == [(2, {"query": "q", "product_uid": "1", "relevance": "3"}),
                       (3, {"__error__": "4 fields, the header has 3 (query, product_uid, relevance)"}),
                       (4, {"query": "q", "product_uid": "3", "relevance": "1"})]


def test_rows_keep_the_line_they_start_on_across_quoted_newlines_bom_and_crlf(tmp_path):
    path = _write(tmp_path, "t.tsv", "\ufeffid\ttitle\r\n1\t\"two\tcells\"\r\n\r\n2\tsaw\r\n")
    header, rows = table_rows(path, decode_utf8(path))
    assert header == ["id", "title"]
    assert list(rows) == [(2, {"id": "1", "title": "two\tcells"}), (4, {"id": "2", "title": "saw"})]


def test_json_lines_rows_and_problems(tmp_path):
    path = _write(tmp_path, "c.jsonl", '{"id": 1, "title": "drill"}\n\n[1, 2]\n{"id": 2\n{"id": 3, "title": null}\n')
    header, rows = table_rows(path, decode_utf8(path))
    assert header == ["id", "title"]
    got = list(rows)
    assert got[0] == (1, {"id": 1, "title": "drill"})
    assert got[1] == (3, "expected a JSON object per line") and isinstance(got[1][1], RowProblem)
    assert got[2][0] == 4 and got[2][1].startswith("not valid JSON (")
    assert got[3] == (5, {"id": 3, "title": None})


@pytest.mark.parametrize(("text", "expected"), [
    (b"", "the file is empty"),
    (b"id,title\n1,caf\xe9\n", ":2: not UTF-8 (byte 0xe9 at offset 14)"),
], ids=["empty", "latin1"])
def test_decoding_problems_are_located(tmp_path, text, expected):
    path = _write(tmp_path, "c.csv", text)
    with pytest.raises(DataError) as err:
        decode_utf8(path)
    assert err.value.message == (f"{path}: {expected}" if not expected.startswith(":") else f"{path}{expected}")


@pytest.mark.parametrize("titles", [
    ["cordless\ndrill", "sink"],
    ["Cordless drill\r\n20V max", "tile | grey"],
    ["three\nline\ntitle", "plain"],
], ids=["newline", "crlf", "two-breaks"])
def test_a_quoted_field_with_a_line_break_is_read_as_one_value(tmp_path, titles):
    """What csv.writer writes for a title with a newline is a valid CSV field, not an unclosed quote."""
    import csv as csv_module

    path = tmp_path / "products.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv_module.writer(fh)
        writer.writerow(["product_uid", "product_title"])
        writer.writerows([[str(i + 1), title] for i, title in enumerate(titles)])
    catalog = read_catalog(path)
    assert list(catalog.ids) == ["1", "2"]
    assert [title.replace("\r\n", "\n") for title in catalog.titles] == [t.replace("\r\n", "\n") for t in titles]
    records = [record for _line, record in iter_records(path, ["product_uid", "product_title"])]
    assert [r["product_title"].replace("\r\n", "\n") for r in records] == [t.replace("\r\n", "\n") for t in titles]
