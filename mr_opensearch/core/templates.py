"""The JSON templates in ``mappings/`` and ``pipelines/``, filled in.

A template is plain JSON whose placeholders are strings ``"{{name}}"``; each is replaced by the JSON
encoding of its value (so ``"{{dimension}}"`` becomes ``384``, ``"{{meta}}"`` an object). Every
placeholder must be given and every value must be used: a typo fails loudly instead of reaching
the cluster.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mr_opensearch.core.errors import MrosError

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = Path(__file__).resolve().parents[1] / "_templates"
PLACEHOLDER = re.compile(r'"\{\{([a-z_][a-z0-9_]*)\}\}"')


def template_path(kind: str, name: str) -> Path:
    if kind not in ("mappings", "pipelines"):
        raise ValueError(f"unknown template kind {kind!r}")
    for base in (PACKAGED, ROOT):
        path = base / kind / f"{name}.json"
        if path.exists():
            return path
    raise MrosError(f"template {kind}/{name}.json not found (looked in {PACKAGED} and {ROOT})",
                    "reinstall mros (`pip install --force-reinstall mros`): the wheel ships the templates")


def render(kind: str, name: str, **values: Any) -> dict:
    """Fill ``kind/name.json`` with ``values``; returns the parsed body."""
    path = template_path(kind, name)
    text = path.read_text(encoding="utf-8")
    wanted = set(PLACEHOLDER.findall(text))
    missing, unused = wanted - set(values), set(values) - wanted
    if missing or unused:
        raise MrosError(f"{path}: placeholders missing {sorted(missing)}, values not used {sorted(unused)}",
                        "pass exactly the template's placeholders")
    filled = PLACEHOLDER.sub(lambda m: json.dumps(values[m.group(1)]), text)
    return json.loads(filled)
