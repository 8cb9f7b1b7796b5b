"""Content hashes: every SHA-256 mros takes of a file, a text, a byte stream or a set of values (core).

- :func:`sha256_of_chunks`: the full hex digest of a byte stream (a catalog, a model's tensors);
- :func:`file_sha256`: of a file's bytes, read in 1 MiB blocks (the ML Commons package's
  ``model_content_hash_value``);
- :func:`short_key`: the first 16 hex digits of a digest: keys of step markers and caches;
- :func:`text_key`, :func:`content_key`, :func:`file_key`: short keys of a text, of JSON-serialisable
  values (keys sorted), of a file.

A short key is for change detection between runs of mros, not for security. Query-to-split
assignment (``trainer.splits``, ``mr_opensearch.search.judgments``) is a seeded draw, not a content hash,
and keeps its own SHA-1 so existing splits do not move.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KEY_LENGTH = 16


def sha256_of_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _file_blocks(path: Path | str) -> Iterable[bytes]:
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def file_sha256(path: Path | str) -> str:
    return sha256_of_chunks(_file_blocks(path))


def short_key(hex_digest: str) -> str:
    return hex_digest[:KEY_LENGTH]


def file_key(path: Path | str) -> str:
    return short_key(file_sha256(path))


def text_key(text: str) -> str:
    return short_key(sha256_of_chunks([text.encode()]))


def content_key(*parts: Any) -> str:
    """:func:`text_key` of ``parts`` as sorted-key JSON (values JSON cannot hold are written with ``str``)."""
    return text_key(json.dumps(parts, sort_keys=True, default=str))
