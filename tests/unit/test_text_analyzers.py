"""The BM25 fields' analyzer: the index template, the index name and the refusal of unknown analyzers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.templates import render
from mr_opensearch.deploy.deploy import DeployOptions, index_name
from mr_opensearch.deploy.text_analyzers import BUILT_IN, check_text_analyzer, text_field_mapping
from mr_opensearch.job.config import DeployConfig
from mr_opensearch.search.manifest import Manifest


def _index_values(**over):
    values = {"dimension": 8, "ef_search": 400, "shards": 1, "replicas": 0, "refresh_interval": "-1",
              "ingest_pipeline": "_none", "search_pipeline": "_none", "space_type": "cosinesimil", "hnsw_m": 16,
              "ef_construction": 128, "text_analyzer": "english", "manifest": {"created_by": "mros"}}
    return {**values, **over}


def test_the_index_template_analyses_the_title_with_the_chosen_analyzer():
    body = render("mappings", "product-index", **_index_values())
    assert body["mappings"]["properties"]["title"] == {"type": "text", "analyzer": "english"}
    body = render("mappings", "product-index", **_index_values(text_analyzer="standard"))
    assert body["mappings"]["properties"]["title"] == {"type": "text", "analyzer": "standard"}
    assert text_field_mapping("french") == {"type": "text", "analyzer": "french"}


def test_english_is_the_default_of_deploy_and_of_the_run_job():
    assert DeployOptions(alias="a").text_analyzer == "english"
    assert DeployConfig().text_analyzer == "english"
    # a manifest written before the field existed describes a standard-analysed index
    old = Manifest(index="a-1", alias="a", model_sha256="0" * 64, catalog_sha256="1" * 64, embedding="client",
                   dimension=8, documents=1)
    assert old.text_analyzer == "standard"


def test_the_analyzer_is_part_of_the_index_name():
    model, catalog = "a" * 64, "b" * 64
    standard = index_name("shop", model, catalog, "standard")
    assert standard == index_name("shop", model, catalog) == f"shop-{'a' * 10}-{'b' * 8}"
    english, french = index_name("shop", model, catalog, "english"), index_name("shop", model, catalog, "french")
    assert len({standard, english, french}) == 3
    assert english == index_name("shop", model, catalog, "english")  # stable: the same deploy finds its index
    assert english.startswith(f"shop-{'a' * 10}-")


@pytest.mark.parametrize("name", ["English", "porter", "my_analyzer", ""])
def test_unknown_analyzers_are_usage_errors(name):
    with pytest.raises(MrosError, match="unknown text analyzer") as info:
        check_text_analyzer(name)
    assert info.value.exit_code == 2 and "english" in info.value.hint
    with pytest.raises(ValueError, match="unknown text analyzer"):
        DeployConfig(text_analyzer=name)
    assert "english" in BUILT_IN and "standard" in BUILT_IN


def test_mros_deploy_refuses_an_unknown_analyzer_before_reading_anything(tmp_path):
    result = CliRunner().invoke(app, ["deploy", "--run", str(tmp_path / "missing"), "--catalog",
                                      str(tmp_path / "missing.csv"), "--alias", "shop", "--text-analyzer", "klingon"])
    assert result.exit_code == 2
    assert "unknown text analyzer 'klingon'" in result.output
