"""docs/cli.md is generated from --help and must be current."""

from __future__ import annotations

from pathlib import Path

from mr_opensearch.cli.reference import command_paths, generate


def test_every_command_is_documented_and_the_reference_is_current():
    from mr_opensearch.cli import app

    doc = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
    current = generate()
    for path in command_paths(app):
        assert f"## mros {' '.join(path)}" in current
    assert doc.read_text(encoding="utf-8") == current, (
        "docs/cli.md is out of date: run `python -m mr_opensearch.cli.reference > docs/cli.md`"
    )
