"""The gates of the bad-input matrix that need no cluster, or a cluster this machine cannot run: the version
gate (an OpenSearch 2.x node runs only on Java <= 21 and is not fetched here), the flood-stage watermark
arithmetic, the cluster-URL syntax, and the catalog reader's formats and field limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from mr_opensearch.cluster.connection import check_url
from mr_opensearch.cluster.disk_watermark import effective_setting, parse_watermark
from mr_opensearch.core.catalog import MAX_FIELD_CHARS, read_catalog
from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy.preflight import require_version


@pytest.mark.parametrize("info, message", [
    ({"version": {"number": "2.19.1", "distribution": "opensearch"}},
     "the cluster runs OpenSearch 2.19.1; mros needs 3.0+ (hybrid lower_bounds)"),
    ({"version": {"number": "1.3.20", "distribution": "opensearch"}}, "runs OpenSearch 1.3.20; mros needs 3.0+"),
    ({"version": {"number": "8.15.0", "build_flavor": "default"}, "tagline": "You Know, for Search"},
     "the cluster is not OpenSearch (it reports version 8.15.0, distribution none)"),
    ({"version": {"number": "8.15.0", "distribution": "elasticsearch"}}, "the cluster is not OpenSearch"),
    ({"version": {"number": "banana", "distribution": "opensearch"}}, "cannot read the cluster version 'banana'"),
])
def test_the_version_gate_refuses_what_lacks_lower_bounds(info, message):
    with pytest.raises(MrosError) as refused:
        require_version(info)
    assert message in refused.value.message and refused.value.hint and refused.value.exit_code == 1


def test_the_version_gate_lets_3x_through():
    assert require_version({"version": {"number": "3.0.0", "distribution": "opensearch"}}) == "3.0.0"
    assert require_version({"version": {"number": "3.5.0", "distribution": "opensearch"}}) == "3.5.0"


@pytest.mark.parametrize("text, total, available, over", [
    ("95%", 100, 4, True), ("95%", 100, 5, False), ("95%", 100, 6, False),
    ("0.9", 1000, 99, True), ("0.9", 1000, 100, False),
    ("500mb", 10 * 1024**3, 499 * 1024**2, True), ("500mb", 10 * 1024**3, 500 * 1024**2, False),
    ("1000tb", 252 * 1024**3, 72 * 1024**3, True), ("1.5gb", 4 * 1024**3, 1024**3, True),
    ("95%", 0, 0, False),
])
def test_flood_stage_watermark_is_read_as_opensearch_reads_it(text, total, available, over):
    assert parse_watermark(text).exceeded(total, available) is over


def test_watermark_parse_errors_and_effective_settings():
    for bad in ("lots", "1.5", "-0.1", "12 parsecs"):
        with pytest.raises(ValueError):
            parse_watermark(bad)
    settings = {"transient": {"k": "t"}, "persistent": {"k": "p", "j": "p"}, "defaults": {"k": "d", "j": "d", "i": "d"}}
    assert [effective_setting(settings, key) for key in ("k", "j", "i")] == ["t", "p", "d"]
    assert effective_setting(settings, "missing", "fallback") == "fallback"


@pytest.mark.parametrize("url, problem", [
    ("127.0.0.1:9200", "has no http:// or https:// scheme"),
    ("localhost:9200", "has no http:// or https:// scheme"),
    ("ftp://127.0.0.1:9200", "has no http:// or https:// scheme"),
    ("http:/127.0.0.1:9200", "has no http:// or https:// scheme"),
    ("http://127.0.0.1:99999", "has an invalid port"),
    ("http://127.0.0.1:92OO", "has an invalid port"),
    ("http://127.0.0.1:0", "has an invalid port (0)"),
    ("http://:9200", "has no host"),
])
def test_cluster_url_syntax_errors_are_usage_errors(url, problem):
    with pytest.raises(MrosError) as refused:
        check_url(url)
    assert problem in refused.value.message and refused.value.exit_code == 2
    assert "http://HOST:PORT" in refused.value.hint


def test_valid_cluster_urls_pass_unchanged_but_for_a_trailing_slash():
    assert check_url("http://127.0.0.1:9200/") == "http://127.0.0.1:9200"
    assert check_url("HTTPS://search.example.com") == "HTTPS://search.example.com"
    assert check_url("https://search.example.com:443/prefix") == "https://search.example.com:443/prefix"


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_catalog_formats_by_extension(tmp_path):
    tsv = _write(tmp_path, "p.tsv", "product_uid\tproduct_title\n1\tdrill, cordless\n2\tsaw\n")
    assert read_catalog(tsv).titles == ["drill, cordless", "saw"]
    ndjson = _write(tmp_path, "p.json", '{"id": 1, "title": "drill"}\n')
    assert read_catalog(ndjson).ids == ["1"]
    for name, words in (("p.xlsx", "unknown file type '.xlsx'"), ("products", "unknown file type '(no extension)'"),
                        ("p.parquet", "Parquet is not read on the serving path")):
        with pytest.raises(MrosError) as refused:
            read_catalog(_write(tmp_path, name, "product_uid,product_title\n1,drill\n"))
        assert words in refused.value.message and refused.value.exit_code == 2


def test_catalog_field_limit_holds_for_every_column_and_jsonl(tmp_path):
    at_limit = _write(tmp_path, "ok.csv", "id,title,notes\n1,drill," + "n" * MAX_FIELD_CHARS + "\n")
    assert read_catalog(at_limit, text_fields=("notes",)).extra["notes"] == ["n" * MAX_FIELD_CHARS]
    over = _write(tmp_path, "over.jsonl", '{"id": 1, "title": "drill"}\n{"id": 2, "title": "saw", "notes": "'
                  + "n" * (MAX_FIELD_CHARS + 1) + '"}\n')
    with pytest.raises(MrosError) as refused:
        read_catalog(over)
    assert refused.value.message == f"{over}:2: field 'notes' has {MAX_FIELD_CHARS + 1} characters (limit 100000)"
