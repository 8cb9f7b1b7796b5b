"""Whether a data node is over its flood-stage disk watermark, read from the cluster's own settings.

Over flood stage, OpenSearch sets ``index.blocks.read_only_allow_delete`` on every index with a shard
on that node at its next disk check (``cluster.info.update.interval``): a deploy started then would
create its index and see its bulk requests refused half way. The preflight therefore compares each
data node's free disk (``_nodes/stats/fs``: ``available_in_bytes`` of ``total_in_bytes``) with the
effective ``cluster.routing.allocation.disk.watermark.flood_stage`` (transient, else persistent, else
the node's own value), exactly as OpenSearch reads the watermark:

* a percentage (``95%``) or a ratio (``0.95``) is the *used* share of the disk;
* a byte size (``500mb``, ``1tb``) is the *free* space below which the node is over.

Nothing is checked when ``cluster.routing.allocation.disk.threshold_enabled`` is false (then
OpenSearch applies no flood-stage block either).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

THRESHOLD_ENABLED = "cluster.routing.allocation.disk.threshold_enabled"
FLOOD_STAGE = "cluster.routing.allocation.disk.watermark.flood_stage"
DEFAULT_FLOOD_STAGE = "95%"

_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


@dataclass(frozen=True)
class Watermark:
    """A flood-stage watermark: ``used_ratio`` (0..1) or ``free_bytes``, exactly one set."""

    text: str
    used_ratio: float | None = None
    free_bytes: int | None = None

    def exceeded(self, total: int, available: int) -> bool:
        if total <= 0:
            return False
        if self.free_bytes is not None:
            return available < self.free_bytes
        assert self.used_ratio is not None
        return (total - available) / total > self.used_ratio


def parse_watermark(text: str) -> Watermark:
    """``95%``, ``0.95`` or a byte size (``500mb``); ``ValueError`` for anything else."""
    value = str(text).strip().lower()
    if value.endswith("%"):
        return Watermark(text, used_ratio=float(value[:-1]) / 100.0)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb)", value)
    if match:
        return Watermark(text, free_bytes=int(float(match.group(1)) * _UNITS[match.group(2)]))
    ratio = float(value)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"watermark ratio {text!r} outside 0..1")
    return Watermark(text, used_ratio=ratio)


def effective_setting(settings: dict[str, Any], key: str, default: str | None = None) -> str | None:
    """A setting from ``GET _cluster/settings?include_defaults&flat_settings``: transient wins, then
    persistent, then the node's value (reported under ``defaults``)."""
    for scope in ("transient", "persistent", "defaults"):
        value = settings.get(scope, {}).get(key)
        if value is not None:
            return str(value)
    return default


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def nodes_over_flood_stage(client: Any) -> list[str]:
    """One line per data node over its flood-stage watermark (empty when none is, or when disk
    thresholds are off)."""
    settings = client.cluster.get_settings(include_defaults=True, flat_settings=True)
    if str(effective_setting(settings, THRESHOLD_ENABLED, "true")).lower() != "true":
        return []
    text = effective_setting(settings, FLOOD_STAGE, DEFAULT_FLOOD_STAGE) or DEFAULT_FLOOD_STAGE
    try:
        watermark = parse_watermark(text)
    except ValueError:
        return []
    stats = client.nodes.stats(metric="fs")
    over = []
    for node in stats.get("nodes", {}).values():
        fs = node.get("fs", {}).get("total", {})
        total, available = int(fs.get("total_in_bytes", 0)), int(fs.get("available_in_bytes", 0))
        if watermark.exceeded(total, available):
            over.append(f"node {node.get('name', '?')} has {_human(available)} free of {_human(total)} "
                        f"(flood stage {watermark.text})")
    return over
