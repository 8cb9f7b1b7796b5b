"""Bad input to `mros label ...`: one clear message naming the file and row, exit code 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from trainer.data import DataError
from trainer.labeler.engagement import load_engagement

runner = CliRunner()


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def catalog(tmp_path):
    return _write(tmp_path / "products.csv", "product_uid,product_title\n1,cordless drill\n2,white lamp\n")


def test_empty_engagement_log(tmp_path):
    log = _write(tmp_path / "log.csv", "query,product_uid,impressions,clicks,add_to_carts,orders\n")
    with pytest.raises(DataError, match=r"log\.csv: the engagement log is empty"):
        load_engagement(log)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("drill,1,-3,0,0,0", "log.csv:3: negative impressions"),
        ("drill,1,10,2,-1,0", "log.csv:3: negative add_to_carts"),
        ("drill,1,10,11,0,0", "log.csv:3: more clicks (11) than impressions (10)"),
        ("drill,1,10,2.5,0,0", "log.csv:3: clicks '2.5' is not a whole number"),
        ("drill,1,ten,2,0,0", "log.csv:3: impressions 'ten' is not a number"),
        (",1,10,2,0,0", "log.csv:3: empty query"),
    ],
)
def test_bad_engagement_rows_name_file_and_line(tmp_path, row, message):
    log = _write(tmp_path / "log.csv", f"query,product_uid,impressions,clicks,add_to_carts,orders\nlamp,2,5,1,0,0\n{row}\n")
    with pytest.raises(DataError) as err:
        load_engagement(log)
    assert message in str(err.value)


def test_engagement_parquet_and_summing(tmp_path):
    import pandas as pd

    path = tmp_path / "log.parquet"
    pd.DataFrame({"query": ["a", "a"], "product_uid": ["1", "1"], "impressions": [10, 5], "clicks": [1, 2]}).to_parquet(path)
    log = load_engagement(path)
    assert log.to_dict("records") == [{"query": "a", "product_uid": "1", "impressions": 15, "clicks": 3,
                                       "add_to_carts": 0, "orders": 0}]
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"query": ["a", "b"], "product_uid": ["1", "2"], "impressions": [10, 5], "clicks": [1, -2]}).to_parquet(bad)
    with pytest.raises(DataError, match=r"bad.parquet:2: negative clicks"):
        load_engagement(bad)


def test_simulate_rejects_unknown_grade_names(tmp_path, catalog):
    labels = _write(tmp_path / "labels.csv", "query,product_uid,grade\ndrill,1,exact\nlamp,2,meh\n")
    result = runner.invoke(app, ["label", "simulate-engagement", "--labels", str(labels), "--catalog", str(catalog),
                                 "--out", str(tmp_path / "log.csv")])
    assert result.exit_code == 1
    assert "labels.csv:3" in result.output and "unknown grade 'meh'" in result.output
    assert "Traceback" not in result.output


def test_simulate_then_audit_needs_a_labeler(tmp_path, catalog):
    labels = _write(tmp_path / "labels.csv", "query,product_uid,grade\ndrill,1,exact\nlamp,2,irrelevant\n")
    result = runner.invoke(app, ["label", "simulate-engagement", "--labels", str(labels), "--catalog", str(catalog),
                                 "--out", str(tmp_path / "log.csv"), "--noise", "0.5",
                                 "--noisy-out", str(tmp_path / "noisy.csv"), "--json"])
    assert result.exit_code == 0, result.output
    assert '"noisy_pairs": 1' in result.output
    assert (tmp_path / "noisy.truth.csv").exists()
    result = runner.invoke(app, ["label", "audit", "--labeler", str(tmp_path / "nope"), "--labels", str(labels),
                                 "--engagement", str(tmp_path / "log.csv"), "--catalog", str(catalog),
                                 "--out", str(tmp_path / "fixed.csv")])
    assert result.exit_code == 1 and "is not a labeler directory" in result.output


def test_apply_pairs_with_missing_product(tmp_path, catalog):
    pairs = _write(tmp_path / "pairs.csv", "query,product_uid\ndrill,1\ndrill,999\n")
    result = runner.invoke(app, ["label", "apply", "--labeler", str(tmp_path), "--pairs", str(pairs),
                                 "--catalog", str(catalog), "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 1
    assert "pairs.csv:3: product '999' is not in the catalog" in result.output


def test_apply_refuses_non_appendable_output(tmp_path, catalog):
    pairs = _write(tmp_path / "pairs.csv", "query,product_uid\ndrill,1\n")
    from trainer.data import load_catalog
    from trainer.labeler.apply import apply_labeler

    with pytest.raises(DataError, match="cannot append"):
        apply_labeler(None, [("drill", "1")], load_catalog(catalog), tmp_path / "out.parquet", log=lambda m: None)
    assert pairs.exists()


def test_train_with_missing_data(tmp_path):
    result = runner.invoke(app, ["label", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "L")])
    assert result.exit_code == 1 and "file not found" in result.output


def test_train_with_bad_config(tmp_path):
    cfg = _write(tmp_path / "labeler.yaml", "epoch: 2\n")
    result = runner.invoke(app, ["label", "train", "--config", str(cfg), "--out", str(tmp_path / "L")])
    assert result.exit_code == 1 and "epoch" in result.output and "Extra inputs" in result.output


def test_label_help_lists_commands():
    result = runner.invoke(app, ["label", "--help"])
    assert result.exit_code == 0
    for command in ("train", "apply", "audit", "simulate-engagement", "evaluate"):
        assert command in result.output
