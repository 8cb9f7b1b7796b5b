"""User Behavior Insights (UBI 1.3.0) engagement: read, validate, aggregate, and SRW's COEC click model.

Sources (``shared/reference/opensearch-3.x-live-service.md``, section 4, "UBI"):

- **Indices.** ``ubi_queries`` (``dynamic: false``; ``query_id``, ``user_query``, ``query_response_hit_ids``,
  ``timestamp`` ``strict_date_time``, ...) and ``ubi_events`` (dynamic; ``action_name`` keyword,
  ``user_query`` keyword, ``timestamp``, ``event_attributes.position.ordinal`` integer,
  ``event_attributes.object.object_id`` keyword, ...): the published mappings of the UBI plugin
  (``user-behavior-insights`` 3.5.0.0, ``src/main/resources/{queries,events}-mapping.json``), copied in
  ``mappings/ubi-queries.json`` and ``mappings/ubi-events.json`` (with the 1 shard / ``auto_expand_replicas
  0-2`` of ``POST /_plugins/ubi/initialize``). :func:`create_ubi_indices` creates them **without the UBI
  plugin** (optional per the documentation, ``ubi/index.md``).
- **Spec 1.3.0** (o19s/ubi ``schema/1.3.0/event.schema.json``): an event needs ``action_name`` and
  ``timestamp``; standard actions ``click_through``, ``add_to_cart``, ``click``, ``watch``, ``view``,
  ``purchase``, ``impression``. A spec event has no ``user_query``: the user query is on the
  ``ubi_queries`` row of the event's ``query_id``, which :func:`read_ubi` joins when the event lacks it.
- **Pitfalls**, each a clear error or a counted skip here (:class:`UbiReport`): hit ids must be catalog
  ids (the plugin stores the Lucene doc number when ``object_id_field`` is not sent: mostly-integer ids
  that are not catalog ids are refused, naming it); ordinals are 0-based for SRW (a log whose ordinals
  start at 1 is refused unless ``ordinal_base=1``); a dynamically mapped ``ubi_events`` whose
  ``action_name`` became ``text`` breaks SRW's terms aggregation and is refused.

COEC (section 4, "How SRW derives COEC judgments"; SRW ``judgments/clickmodel/coec/CoecClickModel.java``
@1134d566, ``model/ClickthroughRate.java``): :func:`srw_coec` reproduces it step by step, including its
quirks (see there). :func:`aggregate_pairs` gives the audit its per-pair counts and two position-corrected
exposures: SRW's (``I * ctr[r*]``) and the per-impression one (``sum_i ctr[r_i]``, clicks over expected
clicks as Zhang & Jones 2007 define COEC).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mr_opensearch.core.errors import MrosError

EVENTS_INDEX = "ubi_events"
QUERIES_INDEX = "ubi_queries"
SPEC_VERSION = "1.3.0"
SIGNAL_ACTIONS = {"impressions": "impression", "clicks": "click", "add_to_carts": "add_to_cart", "orders": "purchase"}
"""The audit's counts and the UBI ``action_name`` each one counts (lower-cased)."""
USED_ACTIONS = frozenset(SIGNAL_ACTIONS.values())
SRW_MAX_RANK = 20
"""``maxRank`` of the SRW documentation's ``UBI_JUDGMENT`` example (it has no default)."""
MAX_EXAMPLES = 5
EVENT_COLUMNS = ["query_id", "user_query", "action_name", "object_id", "ordinal", "timestamp", "client_id",
                 "query_matched", "user_query_on_event"]


@dataclass
class UbiReport:
    """What reading a UBI log kept and skipped: every skip is counted by reason, with example lines."""

    source: str
    events_read: int = 0
    events_kept: int = 0
    queries_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    not_used: Counter = field(default_factory=Counter)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        rows = self.examples.setdefault(reason, [])
        if len(rows) < MAX_EXAMPLES:
            rows.append(where)

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "spec": SPEC_VERSION, "events_read": self.events_read,
                "events_kept": self.events_kept, "queries_read": self.queries_read,
                "skipped": dict(self.skipped), "skipped_total": int(sum(self.skipped.values())),
                "examples": self.examples, "actions_not_used": dict(self.not_used)}

    def lines(self) -> list[str]:
        out = [f"UBI log {self.source}: {self.events_read} events read, {self.events_kept} kept"]
        out += [f"  skipped {n}: {reason} (e.g. {', '.join(self.examples.get(reason, [])[:2])})"
                for reason, n in self.skipped.most_common()]
        if self.not_used:
            out.append("  actions the audit does not count: "
                       + ", ".join(f"{name} {n}" for name, n in self.not_used.most_common()))
        return out


@dataclass
class UbiLog:
    """Validated UBI events (one row each, :data:`EVENT_COLUMNS`; ``ordinal`` 0-based; ``user_query`` from the
    event or joined from ``ubi_queries``; ``query_matched`` False where neither had it) and the report."""

    events: pd.DataFrame
    report: UbiReport


# ---------------------------------------------------------------------------------------------- reading


def _ndjson(path: Path, what: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, document)`` per non-empty line; a hit as ``_search`` returns it (``{"_source": ...}``)
    is unwrapped, a bulk action line (``{"index": ...}``) is passed over."""
    if not path.exists():
        raise MrosError(f"UBI {what} file {path} not found",
                        "pass an NDJSON export of ubi_events (and ubi_queries), or a cluster URL")
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MrosError(f"{where}: not JSON ({exc.msg})", "each line of a UBI NDJSON file is one JSON "
                                "document") from None
            if not isinstance(doc, dict):
                raise MrosError(f"{where}: a JSON {type(doc).__name__}, not an object", "one UBI document per line")
            if "_source" in doc and isinstance(doc["_source"], dict):
                yield where, doc["_source"]
            elif len(doc) == 1 and next(iter(doc)) in ("index", "create"):
                continue
            else:
                yield where, doc


def ubi_files(source: Path) -> tuple[Path, Path | None]:
    """The events file and queries file (None when absent) of ``source``: a folder holding
    ``ubi_events.ndjson`` (and ``ubi_queries.ndjson``), or the events file itself (its queries
    beside it as ``ubi_queries.ndjson`` when that exists)."""
    if source.is_dir():
        events, queries = source / f"{EVENTS_INDEX}.ndjson", source / f"{QUERIES_INDEX}.ndjson"
        if not events.exists():
            raise MrosError(f"{source} holds no {events.name}",
                            f"pass a folder with {EVENTS_INDEX}.ndjson and {QUERIES_INDEX}.ndjson (as `mros label "
                            "simulate-engagement --format ubi` writes), or the events file")
    else:
        events, queries = source, source.with_name(f"{QUERIES_INDEX}.ndjson")
    return events, queries if queries.exists() and queries != events else None


def check_events_mapping(mapping: dict[str, Any], index: str = EVENTS_INDEX) -> None:
    """Refuse an events index where ``action_name`` is not a keyword: a dynamically mapped index (created by
    the first event, without the published mapping) makes it ``text``, and SRW's terms aggregation on
    ``action_name`` then fails (reference section 4, "Without the plugin")."""
    for body in mapping.values():
        props = body.get("mappings", {}).get("properties", {})
        kind = props.get("action_name", {}).get("type")
        if kind is not None and kind != "keyword":
            raise MrosError(f"{index}: action_name is mapped as {kind!r}, not keyword: the index was created by "
                            "dynamic mapping, not with the published UBI mapping, and SRW's COEC (a terms "
                            "aggregation on action_name) can not read it",
                            f"recreate {index} with mappings/ubi-events.json (`mros label simulate-engagement "
                            "--index-url` does; or `POST /_plugins/ubi/initialize`) and reindex the events")


def _scan(client: Any, index: str, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    from opensearchpy.helpers import scan

    body: dict[str, Any] = {"query": {"match_all": {}}}
    if fields:
        body["_source"] = fields
    for hit in scan(client, index=index, query=body, size=1000, preserve_order=False):
        yield f"{index}/{hit['_id']}", hit.get("_source") or {}


def cluster_documents(client: Any, events_index: str = EVENTS_INDEX, queries_index: str = QUERIES_INDEX
                      ) -> tuple[Iterable[tuple[str, dict]], Iterable[tuple[str, dict]] | None]:
    """The events and queries of a cluster's UBI indices (after :func:`check_events_mapping`)."""
    if not client.indices.exists(index=events_index):
        raise MrosError(f"the cluster has no {events_index} index",
                        "create it with the published UBI mapping and fill it (the UBI plugin, a search page "
                        "with ubi.js, or `mros label simulate-engagement --format ubi --index-url URL`)")
    check_events_mapping(client.indices.get_mapping(index=events_index), events_index)
    queries = _scan(client, queries_index) if client.indices.exists(index=queries_index) else None
    return _scan(client, events_index), queries


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _ordinal(value: Any) -> int | str | None:
    """The ordinal as an int, None when absent, or the reason it is unusable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return "an ordinal that is not a whole number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "an ordinal that is not a whole number"
    if number != int(number):
        return "an ordinal that is not a whole number"
    return int(number)


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")


def _timestamp_ok(value: str) -> bool:
    if not TIMESTAMP.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def read_ubi(events: Iterable[tuple[str, dict[str, Any]]], queries: Iterable[tuple[str, dict[str, Any]]] | None,
             source: str, catalog_ids: set[str] | frozenset[str] | None = None, ordinal_base: int = 0,
             catalog_id_check: float = 0.5) -> UbiLog:
    """Validate UBI documents into a :class:`UbiLog`.

    Per event, in order (each a counted skip): no ``action_name``; no ``timestamp`` (both required by the spec)
    or one that is not a date-time; an exact duplicate of an earlier event; an action the audit does not count
    (``not_used``, not a skip); no ``event_attributes.object.object_id``; a missing, non-integer or negative
    ordinal; an ``object_id`` not in ``catalog_ids``. An event without ``user_query`` takes its query's
    ``user_query`` from ``ubi_queries`` (by ``query_id``); with neither it is kept with ``query_matched``
    False (SRW's per-rank click-through counts it) and counted as "no query match".

    Errors, for the whole log: ordinals that never reach 0 but start at 1 (1-based; ``ordinal_base=1`` converts
    them); more than ``catalog_id_check`` of the counted events' ids outside the catalog while all are
    integers (the UBI plugin stored Lucene doc numbers: send ``object_id_field``)."""
    report = UbiReport(source)
    user_queries: dict[str, str] = {}
    for _where, doc in queries or ():
        report.queries_read += 1
        qid, text = _text(doc.get("query_id")), _text(doc.get("user_query"))
        if qid and text:
            user_queries.setdefault(qid, text)
    rows: list[tuple] = []
    seen: set[str] = set()
    for where, doc in events:
        report.events_read += 1
        action = _text(doc.get("action_name"))
        if not action:
            report.skip("events without action_name", where)
            continue
        stamp = _text(doc.get("timestamp"))
        if not stamp:
            report.skip("events without timestamp", where)
            continue
        if not _timestamp_ok(stamp):
            report.skip("events with a timestamp that is not an ISO 8601 date-time", where)
            continue
        key = json.dumps(doc, sort_keys=True, default=str)
        if key in seen:
            report.skip("duplicate events (identical to an earlier one)", where)
            continue
        seen.add(key)
        name = action.lower()
        if name not in USED_ACTIONS:
            report.not_used[action] += 1
            continue
        attributes = doc.get("event_attributes") or {}
        obj = attributes.get("object") or {} if isinstance(attributes, dict) else {}
        object_id = _text(obj.get("object_id")) if isinstance(obj, dict) else ""
        if not object_id:
            report.skip("events without event_attributes.object.object_id", where)
            continue
        position = attributes.get("position") or {} if isinstance(attributes, dict) else {}
        ordinal = _ordinal(position.get("ordinal") if isinstance(position, dict) else None)
        if ordinal is None:
            report.skip("events without event_attributes.position.ordinal", where)
            continue
        if isinstance(ordinal, str):
            report.skip(f"events with {ordinal}", where)
            continue
        qid = _text(doc.get("query_id"))
        own = _text(doc.get("user_query"))
        user_query = own or user_queries.get(qid, "")
        rows.append((qid, user_query or None, name, object_id, ordinal, stamp, _text(doc.get("client_id")),
                     bool(user_query), bool(own), where))
    frame = pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "where"])
    if frame.empty:
        raise MrosError(f"{source}: no usable UBI events ({report.events_read} read; "
                        + (", ".join(f"{n} {r}" for r, n in report.skipped.items()) or "none of the counted "
                           f"actions {sorted(USED_ACTIONS)}") + ")",
                        "the audit needs impression and click events with event_attributes.object.object_id and "
                        "event_attributes.position.ordinal")
    frame["ordinal"] = frame["ordinal"].astype(np.int64) - ordinal_base
    negative = frame["ordinal"] < 0
    if ordinal_base == 0 and negative.sum() == 0 and (frame["ordinal"] == 0).sum() == 0 and frame["ordinal"].min() == 1:
        raise MrosError(f"{source}: the ordinals start at 1, none is 0: they look 1-based, but UBI positions are "
                        "0-based for SRW (COEC's rank click-through runs over ranks 0..maxRank-1)",
                        "pass {ordinal_base} 1 to read them as 1-based (each is lowered by one), or fix the "
                        "collector", parameters="ordinal_base")
    for where in frame.loc[negative, "where"]:
        report.skip("events with a negative ordinal" if ordinal_base == 0 else
                    "events with ordinal 0 in a 1-based log", where)
    frame = frame[~negative]
    if catalog_ids is not None:
        outside = ~frame["object_id"].isin(catalog_ids)
        share = float(outside.mean()) if len(frame) else 0.0
        if share > catalog_id_check and frame["object_id"].str.fullmatch(r"\d+").all():
            raise MrosError(f"{source}: {outside.sum()} of {len(frame)} events ({share:.0%}) name an object_id that "
                            "is not a catalog id, and every id is a number: these look like Lucene doc numbers, "
                            "which the UBI plugin stores when a search sends no ext.ubi.object_id_field",
                            "send ext.ubi.object_id_field (e.g. product_uid) with every search, so hits are "
                            "logged by catalog id; the stored numbers can not be mapped back")
        for where in frame.loc[outside, "where"]:
            report.skip("events whose object_id is not a catalog id", where)
        frame = frame[~outside]
    for where in frame.loc[~frame["query_matched"], "where"]:
        report.skip("events with no query match (no user_query, and no ubi_queries row for their query_id)", where)
    report.events_kept = int(frame["query_matched"].sum())
    return UbiLog(frame.drop(columns="where").reset_index(drop=True), report)


def load_ubi(source: str | Path, catalog_ids: set[str] | None = None, ordinal_base: int = 0,
             client: Any = None) -> UbiLog:
    """Read a UBI log from an NDJSON file or folder (:func:`ubi_files`), or from a cluster URL (``http(s)://``;
    ``client`` when already connected)."""
    text = str(source)
    if client is not None or re.match(r"^https?://", text):
        if client is None:
            from mr_opensearch.cluster.connection import ClusterConfig, connect

            client = connect(ClusterConfig(url=text))
        events, queries = cluster_documents(client)
        return read_ubi(events, queries, text, catalog_ids, ordinal_base)
    events_path, queries_path = ubi_files(Path(text))
    queries = _ndjson(queries_path, "queries") if queries_path else None
    return read_ubi(_ndjson(events_path, "events"), queries, text, catalog_ids, ordinal_base)


# ---------------------------------------------------------------------------------------------- COEC


def java_round(value: float, digits: int = 3) -> str:
    """``String.format(Locale.ROOT, "%.3f", value)`` as Java writes it: the double's exact value rounded
    half-up (Python's ``%.3f`` rounds the same exact value half-even)."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def rank_click_through(events: pd.DataFrame, max_rank: int = SRW_MAX_RANK) -> np.ndarray:
    """SRW's ``ctr[r]`` for r in [0, max_rank): clicks(r) / impressions(r) over every event with
    ``ordinal <= max_rank`` (a ``user_query`` is not needed), 0 for a rank without impressions.

    As SRW reads them, from a terms aggregation on ``action_name`` (default size: the 10 most frequent
    actions) with a ``positions`` terms sub-aggregation of size ``max_rank``: only the first 10 actions and,
    per action, the ``max_rank`` most frequent ordinals count (ties by key, as OpenSearch orders buckets)."""
    rows = events[events["ordinal"] <= max_rank]
    counts = rows.groupby(["action_name", "ordinal"]).size()
    totals = rows.groupby("action_name").size().reset_index(name="n")
    top_actions = totals.sort_values(["n", "action_name"], ascending=[False, True])["action_name"].head(10)
    clicks: dict[int, int] = {}
    impressions: dict[int, int] = {}
    for action in top_actions:
        per_rank = counts[action].reset_index(name="n").sort_values(["n", "ordinal"], ascending=[False, True])
        kept = dict(zip(per_rank["ordinal"].head(max_rank), per_rank["n"].head(max_rank), strict=True))
        if action == "click":
            clicks = kept
        elif action == "impression":
            impressions = kept
    ctr = np.zeros(max_rank)
    for rank in range(max_rank):
        if impressions.get(rank, 0) > 0:
            ctr[rank] = clicks.get(rank, 0) / impressions[rank]
    return ctr


def srw_coec(events: pd.DataFrame, max_rank: int = SRW_MAX_RANK, join_queries: bool = True
             ) -> dict[str, dict[str, str]]:
    """COEC ratings exactly as SRW computes them: ``{user_query: {object_id: "r.rrr"}}``.

    1. ``ctr[r]`` by :func:`rank_click_through`.
    2. For each (``user_query``, ``object_id``) over the events with ``ordinal <= max_rank``: C clicks and I
       impressions (``click`` / ``impression``, case-insensitive; any other action still creates the pair,
       with 0/0), and r* the lowest ordinal of its click and impression events.
    3. ``rating = C / (ctr[r*] * I)``, or 0 when the denominator is 0 (also when r* >= max_rank), written with 3
       decimals (:func:`java_round`).

    SRW groups by the event's own ``user_query`` and skips events without one; ``join_queries=False`` does
    the same here, while the default also groups the events whose ``user_query`` was joined from
    ``ubi_queries`` (``read_ubi``). The events of :class:`UbiLog` hold only the counted actions, so pairs
    that only have other actions (SRW: rating 0.000) are not listed."""
    ctr = rank_click_through(events, max_rank)
    rows = events[(events["ordinal"] <= max_rank) & events["user_query"].notna()]
    if not join_queries:
        rows = rows[rows["user_query_on_event"]]
    out: dict[str, dict[str, str]] = {}
    for (query, object_id), group in rows.groupby(["user_query", "object_id"], sort=False):
        actions = group["action_name"]
        counted = group[actions.isin(("click", "impression"))]
        c = int((actions == "click").sum())
        i = int((actions == "impression").sum())
        rank = int(counted["ordinal"].min()) if len(counted) else None
        expected = (ctr[rank] if rank is not None and 0 <= rank < max_rank else 0.0) * i
        rating = c / expected if expected > 0 else 0.0
        out.setdefault(query, {})[object_id] = java_round(rating)
    return out


def aggregate_pairs(events: pd.DataFrame, max_rank: int = SRW_MAX_RANK) -> pd.DataFrame:
    """Per (query, product) counts for the audit, from the events with a query match: ``impressions``,
    ``clicks``, ``add_to_carts``, ``orders`` (actions ``impression``, ``click``, ``add_to_cart``,
    ``purchase``), ``min_rank`` (r*), and two position-corrected exposures, the expected clicks of an
    average product at the ranks where this one was shown (``ctr`` of :func:`rank_click_through`):

    - ``exposure_coec_srw = I * ctr[r*]``: SRW's (its COEC rating is ``clicks / exposure_coec_srw``);
    - ``exposure_coec = sum over the impressions i of ctr[r_i]``: per impression (0 at ranks >= max_rank);
    - ``exposure_pbm = sum over the impressions i of theta[r_i]``: the examination propensities of a fitted
      position-based model (:func:`pbm_propensities`), not confounded with what the engine ranks where."""
    ctr = rank_click_through(events, max_rank)
    rows = events[events["query_matched"]]
    counts = (rows.assign(one=1).pivot_table(index=["user_query", "object_id"], columns="action_name",
                                             values="one", aggfunc="sum", fill_value=0))
    frame = pd.DataFrame(index=counts.index)
    for column, action in SIGNAL_ACTIONS.items():
        frame[column] = counts[action].astype(np.int64) if action in counts else 0
    counted = rows[rows["action_name"].isin(("click", "impression"))]
    frame["min_rank"] = counted.groupby(["user_query", "object_id"])["ordinal"].min()
    shown = rows[rows["action_name"] == "impression"]
    weights = np.where(shown["ordinal"].to_numpy() < max_rank,
                       ctr[np.clip(shown["ordinal"].to_numpy(), 0, max_rank - 1)], 0.0)
    frame["exposure_coec"] = shown.assign(w=weights).groupby(["user_query", "object_id"])["w"].sum()
    theta, table = pbm_propensities(events, max_rank)
    frame["exposure_pbm"] = (table.assign(w=table["n"] * theta[table["ordinal"].to_numpy()])
                             .groupby(["user_query", "object_id"])["w"].sum())
    frame = frame.reset_index().rename(columns={"user_query": "query", "object_id": "product_uid"})
    frame["exposure_coec"] = frame["exposure_coec"].fillna(0.0)
    frame["exposure_pbm"] = frame["exposure_pbm"].fillna(0.0)
    frame.attrs["pbm_theta"] = theta.tolist()
    r = frame["min_rank"].fillna(max_rank).astype(np.int64).to_numpy()
    frame["exposure_coec_srw"] = frame["impressions"] * np.where(r < max_rank, ctr[np.clip(r, 0, max_rank - 1)], 0.0)
    frame.attrs["rank_ctr"] = ctr.tolist()
    return frame


def pbm_propensities(events: pd.DataFrame, max_rank: int = SRW_MAX_RANK, iterations: int = 100,
                     tol: float = 1e-6) -> tuple[np.ndarray, pd.DataFrame]:
    """Examination propensities of a position-based model fitted by EM (Chuklin, Markov & de Rijke 2015,
    "Click Models for Web Search", sections 3.2 and 4.2): ``P(click) = theta[r] * alpha[pair]``.

    Per (pair, rank) table of impressions ``n`` and clicks ``c`` (events of a query match, ranks below
    ``max_rank``); each iteration, for the unclicked impressions,
    ``P(E=1 | C=0) = theta (1 - alpha) / (1 - theta alpha)`` and ``P(A=1 | C=0) = alpha (1 - theta) / (1 -
    theta alpha)``, then ``alpha = (c + sum_r u P(A=1|C=0)) / n`` per pair and ``theta = (c + sum_pairs u
    P(E=1|C=0)) / n`` per rank. Unlike SRW's ``ctr[r]``, theta is not confounded with the relevance of
    what the engine puts at each rank (identified because a pair is shown at several ranks). Returns
    ``theta / theta[0]`` and the table (``user_query, object_id, ordinal, n, c``)."""
    rows = events[events["query_matched"] & (events["ordinal"] < max_rank)
                  & events["action_name"].isin(("impression", "click"))]
    table = (rows.assign(n=rows["action_name"].eq("impression").astype(np.int64),
                         c=rows["action_name"].eq("click").astype(np.int64))
             .groupby(["user_query", "object_id", "ordinal"], as_index=False)[["n", "c"]].sum())
    table = table[table["n"] > 0]
    pair_codes = table.groupby(["user_query", "object_id"], sort=False).ngroup().to_numpy()
    rank = table["ordinal"].to_numpy()
    n = table["n"].to_numpy(np.float64)
    c = np.minimum(table["c"].to_numpy(np.float64), n)
    u = n - c
    pairs = int(pair_codes.max()) + 1 if len(pair_codes) else 0
    theta = np.full(max_rank, 0.5)
    alpha = np.full(pairs, 0.5)
    n_pair = np.bincount(pair_codes, n, pairs)
    n_rank = np.bincount(rank, n, max_rank)
    for _ in range(iterations):
        t, a = theta[rank], alpha[pair_codes]
        denom = np.maximum(1 - t * a, 1e-12)
        new_alpha = (np.bincount(pair_codes, c + u * a * (1 - t) / denom, pairs)) / np.maximum(n_pair, 1e-12)
        new_theta = (np.bincount(rank, c + u * t * (1 - a) / denom, max_rank)) / np.maximum(n_rank, 1e-12)
        new_theta = np.where(n_rank > 0, new_theta, 0.0).clip(0, 1)
        new_alpha = new_alpha.clip(0, 1)
        done = max(np.abs(new_theta - theta).max(initial=0), np.abs(new_alpha - alpha).max(initial=0)) < tol
        theta, alpha = new_theta, new_alpha
        if done:
            break
    top = theta[0] if theta[0] > 0 else (theta.max() or 1.0)
    return theta / top, table
