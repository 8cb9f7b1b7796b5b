from __future__ import annotations

import pytest

from trainer.config import SplitConfig
from trainer.data import DataError, load_catalog, load_judgments
from trainer.grades import Grade, GradeMapping, UnknownGradeError, parse_grade
from trainer.splits import split_judgments


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def catalog_file(tmp_path):
    return write(tmp_path / "products.csv", "product_uid,product_title\n1,Cordless drill\n2,Taladro inalámbrico\n3,電動ドリル\n")


def test_grade_mapping_defaults_cut_home_depot_scores():
    m = GradeMapping()
    assert [m.grade_of_score(s) for s in (3, 2.67, 2.33, 2.0, 1.67, 1)] == [2, 2, 1, 1, 0, 0]


def test_grade_mapping_rejects_unordered_thresholds():
    with pytest.raises(ValueError, match="partial < exact"):
        GradeMapping(exact=2.0, partial=2.5)


@pytest.mark.parametrize(("value", "expected"), [("exact", Grade.EXACT), ("Substitute", Grade.PARTIAL),
                                                 ("I", Grade.IRRELEVANT), ("2", Grade.EXACT), (1, Grade.PARTIAL)])
def test_parse_grade_names_and_numbers(value, expected):
    assert parse_grade(value, "grade", None) == expected


@pytest.mark.parametrize("value", ["great", "3", 1.5, "", None])
def test_parse_grade_unknown(value):
    with pytest.raises(UnknownGradeError):
        parse_grade(value, "grade", None)


def test_load_catalog_and_judgments_with_raw_relevance(tmp_path, catalog_file):
    catalog = load_catalog(catalog_file)
    assert catalog.ids == ["1", "2", "3"] and catalog.text("3") == "電動ドリル"
    j = write(tmp_path / "j.csv", "query,product_uid,relevance\ndrill,1,3\ndrill,2,2.33\ndrill,3,1\n")
    judgments = load_judgments(j, catalog)
    assert list(judgments.frame["grade"]) == [2, 1, 0]


def test_judgments_with_grade_names_jsonl(tmp_path, catalog_file):
    j = write(tmp_path / "j.jsonl", '{"query": "drill", "product_uid": "1", "grade": "exact"}\n'
                                    '{"query": "drill", "product_uid": 2, "grade": "irrelevant"}\n')
    judgments = load_judgments(j, load_catalog(catalog_file))
    assert list(judgments.frame["grade"]) == [2, 0]


def test_parquet_roundtrip(tmp_path, catalog_file):
    import pandas as pd

    path = tmp_path / "j.parquet"
    pd.DataFrame({"query": ["drill"], "product_uid": ["1"], "grade": [1]}).to_parquet(path)
    assert list(load_judgments(path, load_catalog(catalog_file)).frame["grade"]) == [1]


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("query,product_uid,relevance\ndrill,1,3\ndrill,9,3\n", 3, "not in the catalog"),
        ("query,product_uid,grade\ndrill,1,great\n", 2, "unknown grade"),
        ("query,product_uid,relevance\ndrill,1\n", 2, "2 fields, the header has 3"),
        ("query,product_uid,relevance\n,1,3\n", 2, "empty query"),
        ("query,product_uid,relevance\ndrill,1,3\ndrill,1,1\n", 3, "graded 0 here but 2"),
    ],
)
def test_bad_judgment_rows_name_file_and_line(tmp_path, catalog_file, body, line, problem):
    path = write(tmp_path / "j.csv", body)
    with pytest.raises(DataError) as err:
        load_judgments(path, load_catalog(catalog_file))
    assert err.value.line == line and problem in err.value.problem and str(path) in str(err.value)


def test_skip_mode_counts_bad_rows(tmp_path, catalog_file):
    path = write(tmp_path / "j.csv", "query,product_uid,relevance\ndrill,1,3\ndrill,9,3\nsaw,2,oops\nsaw,3,1\n")
    judgments = load_judgments(path, load_catalog(catalog_file), on_error="skip")
    assert len(judgments) == 2
    assert judgments.report.skipped == {"ids missing from catalog": 1, "unknown grades": 1}
    assert "2 of 4 rows kept" in judgments.report.summary()


def test_wrong_encoding_is_located(tmp_path):
    path = write(tmp_path / "p.csv", "product_uid,product_title\n1,ok\n2,Taladro inalámbrico\n", encoding="latin-1")
    with pytest.raises(DataError, match="not UTF-8") as err:
        load_catalog(path)
    assert err.value.line == 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("", "file is empty"),
        ("id,name\n1,x\n", "missing column"),
        ("product_uid,product_title\n1,a\n1,b\n", "duplicate product id"),
        ("product_uid,product_title\n1,\n", "empty product_title"),
    ],
)
def test_bad_catalogs(tmp_path, body, problem):
    with pytest.raises(DataError, match=problem):
        load_catalog(write(tmp_path / "p.csv", body))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_catalog(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unsupported file type"):
        load_catalog(write(tmp_path / "p.xlsx", "x"))


def test_query_level_split_is_disjoint_seeded_and_stable(tmp_path, catalog_file):
    rows = "".join(f"q{i},{1 + i % 3},3\n" for i in range(300))
    judgments = load_judgments(write(tmp_path / "j.csv", "query,product_uid,relevance\n" + rows), load_catalog(catalog_file))
    a = split_judgments(judgments, SplitConfig(seed=1))
    b = split_judgments(judgments, SplitConfig(seed=1))
    c = split_judgments(judgments, SplitConfig(seed=2))
    sets = {k: set(v.queries) for k, v in a.items()}
    assert sets["train"].isdisjoint(sets["test"]) and sets["train"].isdisjoint(sets["validation"])
    assert sum(len(s) for s in sets.values()) == 300
    assert sets == {k: set(v.queries) for k, v in b.items()}
    assert sets != {k: set(v.queries) for k, v in c.items()}
    assert 15 <= len(sets["test"]) <= 45
    # adding queries keeps every existing query in its split
    import pandas as pd

    from trainer.data import Judgments

    more = pd.concat([judgments.frame, pd.DataFrame([{"query": "new query", "product_id": "1", "grade": 2}])])
    bigger = split_judgments(Judgments(more), SplitConfig(seed=1))
    assert sets["test"] <= set(bigger["test"].queries)
