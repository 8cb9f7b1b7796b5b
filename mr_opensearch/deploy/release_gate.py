"""The release gate of ``mros deploy --gate JUDGMENTS``: the new complete index is measured against the live
one on the same judgments *before* the alias moves, and a worse one does not go live.

Both indices answer every judged query in the mode the alias serves (``mode``, hybrid by default), each
with its own model (client mode: the served copy its manifest names; engine mode: its ``model_id``, or the
model its ``semantic`` field's mapping names), and are scored with the live evaluation's metrics
(:func:`mr_opensearch.search.live_eval.quality`): graded nDCG@10, exact-precision@10, irrelevant-rate@10
and the share of queries with no exact hit in the top 10.
The gate passes when the new index's nDCG@10 is at most ``max_drop`` below the live one's. Both results are
recorded in the new index's manifest (``gate``), whatever the outcome; a refused index stays, complete,
for inspection, and the alias stays where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.live_eval import check_coverage, judged_coverage, quality
from mr_opensearch.search.manifest import Manifest
from mr_opensearch.search.queries import QueryEmbedder, run_query

GATE_K = 10


@dataclass
class GateOptions:
    """What ``--gate`` compares on.

    Args:
        queries: the judged queries.
        graded: ``{query: {product id: grade}}``.
        source: where the judgments come from (a path), for the record.
        max_drop: the largest nDCG@10 drop of the new index against the live one that still passes.
        mode: the search mode measured (the one the alias serves).
    """

    queries: list[str]
    graded: dict[str, dict[str, int]]
    source: str
    max_drop: float = 0.01
    mode: str = "hybrid"


def check_gate_judgments(options: GateOptions, catalog_ids: list[str]) -> None:
    """Refuse, before a deploy writes anything, gate judgments that match no product of the catalog."""
    judged = {pid for grades in options.graded.values() for pid in grades}
    if not judged & set(catalog_ids):
        raise MrosError(f"the {{gate}} judgments ({options.source}) match no product of the catalog: {len(judged)} "
                        "judged products, none of its ids", "gate with judgments of this catalog (same product ids)",
                        parameters="gate")


def measure(client: Any, index: str, manifest: Manifest, options: GateOptions) -> dict[str, Any]:
    """The gate's metrics of ``index`` on the judged queries (the index's own model embeds them)."""
    embedder = QueryEmbedder(manifest) if options.mode != "bm25" and manifest.embedding == "client" else None
    vectors = dict(zip(options.queries, embedder.encode(options.queries), strict=True)) if embedder else {}
    ranked = {q: run_query(client, index, manifest, q, mode=options.mode, k=GATE_K, vector=vectors.get(q)).ids()
              for q in options.queries}
    return {"index": index, "model_sha256": manifest.model_sha256, **quality(ranked, options.graded, GATE_K)}


def run_gate(client: Any, new: tuple[str, Manifest], live: tuple[str, Manifest] | None,
             options: GateOptions) -> dict[str, Any]:
    """The gate's record: both indices measured, the drop and whether the new one passes."""
    coverage = judged_coverage(client, new[0], options.queries, options.graded)
    check_coverage(coverage, new[0], 0.0, None)  # judgments that match nothing measure nothing
    measured_new = measure(client, *new, options)
    measured_live = measure(client, *live, options) if live is not None else None
    drop = (measured_live["ndcg@10"] - measured_new["ndcg@10"]) if measured_live is not None else None
    return {"judgments": options.source, "mode": options.mode, "queries": len(options.queries),
            "coverage": coverage, "max_drop": options.max_drop, "new": measured_new, "live": measured_live,
            "ndcg_drop": drop, "passed": drop is None or drop <= options.max_drop,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def describe(record: dict[str, Any]) -> str:
    """One line: both nDCG@10, the drop and the verdict."""
    new = record["new"]
    if record["live"] is None:
        return (f"release gate ({record['mode']}, {record['queries']} judged queries): {new['index']} nDCG@10 "
                f"{new['ndcg@10']:.4f}; no live index to compare with: passed")
    live = record["live"]
    verdict = "passed" if record["passed"] else "refused"
    return (f"release gate ({record['mode']}, {record['queries']} judged queries): new {new['index']} nDCG@10 "
            f"{new['ndcg@10']:.4f}, exact-precision@10 {new['exact_precision@10']:.4f}, irrelevant-rate@10 "
            f"{new['irrelevant_rate@10']:.4f}; live {live['index']} nDCG@10 {live['ndcg@10']:.4f}, exact-precision@10 "
            f"{live['exact_precision@10']:.4f}, irrelevant-rate@10 {live['irrelevant_rate@10']:.4f}; drop "
            f"{record['ndcg_drop']:+.4f} (at most {record['max_drop']:.4f}): {verdict}")


class GateRefused(MrosError):
    """The new index is worse than the live one by more than the tolerance: the alias did not move."""

    def __init__(self, record: dict[str, Any], live_index: str) -> None:
        super().__init__(f"{describe(record)}. The alias stays on {live_index}; {record['new']['index']} is kept, "
                         "complete, for inspection",
                         "look at the new index's hits (`mros eval --alias` after a manual alias move on a test "
                         "alias, or its manifest's gate record); deploy a better model or catalog, or allow a "
                         "larger drop with {max_drop}", parameters="max_drop")
        self.record = record
