"""Serving commands that must refuse before they touch a cluster (issue #30, items 1 and 10): one
``Error:`` line and one ``hint:`` line, the right exit code, and no file written or replaced."""

from __future__ import annotations

import json
from pathlib import Path

from test_model_identity import exported_run
from typer.testing import CliRunner

from mr_opensearch.cli import app

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a command that got this far would fail differently


def invoke(*args: str):
    return CliRunner().invoke(app, ["--no-progress", *args])


def _judgments(tmp_path: Path) -> Path:
    path = tmp_path / "judgments.csv"
    path.write_text("query,product_uid,relevance\ndrill,1,3\n", encoding="utf-8")
    return path


def test_tune_save_never_replaces_the_judgments_it_reads(tmp_path):
    judgments = _judgments(tmp_path)
    before = judgments.read_bytes()
    out = invoke("eval", "--alias", "shop", "--judgments", str(judgments), "--tune", "--save", str(judgments),
                 "--url", NOWHERE)
    assert out.exit_code == 1
    assert f"--save {judgments} is also an input of this command" in out.output
    assert judgments.read_bytes() == before


def test_tune_save_refuses_an_existing_file_without_force(tmp_path):
    judgments, saved = _judgments(tmp_path), tmp_path / "tuned.json"
    saved.write_text('{"mine": true}', encoding="utf-8")
    out = invoke("eval", "--alias", "shop", "--judgments", str(judgments), "--tune", "--save", str(saved),
                 "--url", NOWHERE)
    assert out.exit_code == 1 and f"--save {saved} already exists" in out.output and "--force" in out.output
    assert json.loads(saved.read_text()) == {"mine": True}
    forced = invoke("eval", "--alias", "shop", "--judgments", str(judgments), "--tune", "--save", str(saved),
                    "--force", "--url", NOWHERE)
    assert "already exists" not in forced.output  # it goes on, to the (absent) cluster


def test_a_timeout_of_zero_is_a_usage_error(tmp_path):
    out = invoke("search", "drill", "--alias", "shop", "--timeout", "0", "--url", NOWHERE)
    assert out.exit_code == 2 and "Invalid value for '--timeout'" in out.output
    assert "ValidationError" not in out.output and "pydantic" not in out.output


def test_a_malformed_hybrid_file_is_one_error_line_and_one_hint(tmp_path):
    run = exported_run(tmp_path / "run")
    catalog = tmp_path / "products.csv"
    catalog.write_text("product_uid,product_title\n1,cordless drill\n", encoding="utf-8")
    bad = tmp_path / "hybrid.json"
    bad.write_text(json.dumps({"best": {"settings": {"weights": [0.5], "bogus": 1}}}), encoding="utf-8")
    out = invoke("deploy", "--run", str(run), "--catalog", str(catalog), "--alias", "shop", "--hybrid", str(bad),
                 "--url", NOWHERE)
    assert out.exit_code == 2
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith(f"Error: --hybrid {bad}: invalid hybrid settings: ")
    assert "bogus: Extra inputs are not permitted" in lines[0] and lines[1].strip().startswith("hint: ")
