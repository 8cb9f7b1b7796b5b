"""Checks a command's real ``--json`` output against its documented fields (``mr_opensearch/cli/_json_fields.py``)."""

from __future__ import annotations

from typing import Any

from mr_opensearch.cli._json_fields import JSON_FIELDS


def check_documented(command: str, payload: dict[str, Any], optional: tuple[str, ...] = ()) -> None:
    """Every top-level field of ``payload`` is documented for ``command`` and every documented field is there
    (but those in ``optional``, present only with some options)."""
    documented = set(JSON_FIELDS[command])
    assert set(payload) <= documented, f"undocumented fields of `mros {command} --json`: {set(payload) - documented}"
    missing = documented - set(payload) - set(optional)
    assert not missing, f"documented fields `mros {command} --json` did not print: {missing}"
