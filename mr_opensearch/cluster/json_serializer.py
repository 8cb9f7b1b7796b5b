"""The JSON serializer mros's cluster client speaks: ``opensearch-py``'s own, with orjson underneath.

Every request body and every answer passes through it: a deploy's bulk bodies (each product's 384
floats), a search's query vector and its answers (a hybrid search reads two legs of 100 hits). orjson
encodes and decodes these several times faster than the standard library's ``json``, which the client uses
by default (measured on the service's hybrid search: 1.7 ms of the request's CPU in ``json``, docs/benchmarks.md).

It changes nothing a cluster sees but the bytes' spacing: numpy arrays and scalars become JSON arrays and
numbers (orjson's ``OPT_SERIALIZE_NUMPY``; a float32 prints as the shortest decimal naming that float32,
which the cluster parses back to the same value), and what orjson cannot encode (an integer beyond 64
bits, a type only ``opensearch-py`` knows) falls back to the standard encoder. NaN and infinities, which
JSON has no words for, become ``null`` (the standard encoder would write ``NaN``, which OpenSearch refuses).
"""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy.exceptions import SerializationError
from opensearchpy.serializer import JSONSerializer

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class FastJSONSerializer(JSONSerializer):
    """``opensearch-py``'s :class:`~opensearchpy.serializer.JSONSerializer` on orjson (pass it as the client's
    ``serializer``: it then also reads every ``application/json`` answer)."""

    def loads(self, s: str | bytes) -> Any:
        try:
            return orjson.loads(s)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise SerializationError(s, exc) from None

    def dumps(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        try:
            return orjson.dumps(data, default=self.default, option=OPTIONS).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError: what only the standard encoder takes, or nothing does
            return super().dumps(data)
