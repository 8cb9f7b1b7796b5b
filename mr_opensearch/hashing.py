"""Content hashes: every SHA-256 mros takes of a file, a text or a set of values (core layer).

- :func:`file_sha256`: the full hex digest of a file's bytes, read in 1 MiB blocks (the ML Commons
  package's ``model_content_hash_value``, an exported ONNX model's fingerprint);
- :func:`text_key`: a short key (16 hex digits) of a text (step markers in ``RUN/.steps/``, caches);
- :func:`content_key`: :func:`text_key` of JSON-serialisable values, keys sorted.

A short key is for change detection between runs of mros, not for security.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

KEY_LENGTH = 16


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def content_key(*parts: Any) -> str:
    """:func:`text_key` of ``parts`` as sorted-key JSON (values JSON cannot hold are written with ``str``)."""
    return text_key(json.dumps(parts, sort_keys=True, default=str))
