"""The click simulator's sessions as UBI 1.3.0 documents: ``ubi_queries`` rows and ``ubi_events``, written as
NDJSON or indexed into a cluster under the published mappings (created without the UBI plugin).

Formats: ``shared/reference/opensearch-3.x-live-service.md`` section 4 (mappings, spec 1.3.0, the event
example). Every simulated search is one ``ubi_queries`` row (``query_id``, ``user_query``, the shown
products in rank order as ``query_response_hit_ids``, ``client_id``, ``application``, ``timestamp``, ``query``:
the request body as a string) and, per shown product, an ``impression`` event at its 0-based
``event_attributes.position.ordinal``; a click adds a ``click`` event, an add-to-cart an ``add_to_cart``
and an order a ``purchase``, each at the product's ordinal. ``object_id`` is the catalog id
(``object_id_field: product_uid``: never the Lucene doc number, reference section 4 "Plugin").

A spec event has no ``user_query`` (SRW's COEC needs it on the event, reference section 4 "Pitfalls"): the
share ``user_query_on_events`` of the searches carry it on their events, the others only on their
``ubi_queries`` row, so readers must join it (``trainer.labeler.ubi.read_ubi`` does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.templates import render
from trainer.labeler.engagement import ClickModelConfig, simulate_sessions
from trainer.labeler.ubi import EVENTS_INDEX, QUERIES_INDEX

APPLICATION = "mros-simulator"
START = np.datetime64("2026-02-01T00:00:00.000", "ms")
ACTIONS = (("shown", "impression"), ("clicked", "click"), ("carted", "add_to_cart"), ("ordered", "purchase"))


def simulate_ubi(labels: pd.DataFrame, config: ClickModelConfig | None = None, user_query_on_events: float = 1.0,
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(events, queries)`` frames of the simulated sessions (the same sessions as
    :func:`trainer.labeler.engagement.simulate_engagement` for the same config).

    ``events``: ``query_id, user_query, action_name, object_id, ordinal (0-based), timestamp, client_id,
    user_query_on_event``; ``queries``: ``query_id, user_query, hit_ids, timestamp, client_id``."""
    config = config or ClickModelConfig()
    tag = np.random.default_rng([config.seed, 7])  # the share of searches with user_query on their events
    event_parts: list[pd.DataFrame] = []
    query_parts: list[pd.DataFrame] = []
    session_base = 0
    for q_index, (query, ids, arrays) in enumerate(simulate_sessions(labels, config)):
        sessions = arrays["rank"].shape[0]
        qids = np.array([f"q{config.seed}-{q_index}-{s}" for s in range(sessions)], dtype=object)
        clients = np.array([f"c{(session_base + s) % 997}" for s in range(sessions)], dtype=object)
        on_event = tag.random(sessions) < user_query_on_events
        stamps = START + (np.arange(session_base, session_base + sessions) * 60_000).astype("timedelta64[ms]")
        session_base += sessions
        order = np.argsort(arrays["rank"], axis=1)
        hits = [[str(ids[j]) for j in row[arrays["shown"][s, row]]] for s, row in enumerate(order)]
        query_parts.append(pd.DataFrame({"query_id": qids, "user_query": query, "hit_ids": hits,
                                         "timestamp": _stamps(stamps), "client_id": clients}))
        for step, (key, action) in enumerate(ACTIONS):
            s_idx, p_idx = np.nonzero(arrays[key])
            if not len(s_idx):
                continue
            ordinal = arrays["rank"][s_idx, p_idx] - 1
            when = stamps[s_idx] + (1000 * step + ordinal).astype("timedelta64[ms]")
            event_parts.append(pd.DataFrame({
                "query_id": qids[s_idx], "user_query": query, "action_name": action,
                "object_id": ids[p_idx].astype(str), "ordinal": ordinal.astype(np.int64),
                "timestamp": _stamps(when), "client_id": clients[s_idx], "user_query_on_event": on_event[s_idx]}))
    if not event_parts:
        raise MrosError("the simulation produced no events", "give labels with at least one query")
    return pd.concat(event_parts, ignore_index=True), pd.concat(query_parts, ignore_index=True)


def _stamps(values: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(values, unit="ms"), "Z")


def event_documents(events: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """UBI 1.3.0 event documents (``user_query`` only where ``user_query_on_event``)."""
    for row in events.itertuples(index=False):
        doc: dict[str, Any] = {"application": APPLICATION, "action_name": row.action_name, "query_id": row.query_id,
                               "client_id": row.client_id, "timestamp": row.timestamp, "message_type": "INFO",
                               "event_attributes": {
                                   "object": {"object_id": row.object_id, "object_id_field": "product_uid"},
                                   "position": {"ordinal": int(row.ordinal)}}}
        if row.user_query_on_event:
            doc["user_query"] = row.user_query
        yield doc


def query_documents(queries: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """``ubi_queries`` documents, one per simulated search."""
    for row in queries.itertuples(index=False):
        body = {"query": {"match": {"title": row.user_query}},
                "ext": {"ubi": {"query_id": row.query_id, "user_query": row.user_query,
                                "object_id_field": "product_uid"}}}
        yield {"timestamp": row.timestamp, "query_id": row.query_id, "client_id": row.client_id,
               "application": APPLICATION, "user_query": row.user_query, "query": json.dumps(body),
               "query_response_id": f"r-{row.query_id}", "query_response_hit_ids": list(row.hit_ids)}


def write_ubi_ndjson(folder: Path, events: pd.DataFrame, queries: pd.DataFrame) -> tuple[Path, Path]:
    """``FOLDER/ubi_events.ndjson`` and ``FOLDER/ubi_queries.ndjson`` (one document per line), each written
    whole (a temporary file renamed into place)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, docs in ((EVENTS_INDEX, event_documents(events)), (QUERIES_INDEX, query_documents(queries))):
        path = folder / f"{name}.ndjson"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for doc in docs:
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        tmp.replace(path)
        paths.append(path)
    return paths[0], paths[1]


def create_ubi_indices(client: Any, replace: bool = False) -> dict[str, str]:
    """Create ``ubi_queries`` and ``ubi_events`` with the published mappings (``mappings/ubi-*.json``), as
    ``POST /_plugins/ubi/initialize`` would, without the plugin. An existing index is kept (its events
    mapping checked) unless ``replace``. Returns what happened to each."""
    from trainer.labeler.ubi import check_events_mapping

    done = {}
    for index, template in ((QUERIES_INDEX, "ubi-queries"), (EVENTS_INDEX, "ubi-events")):
        if client.indices.exists(index=index):
            if not replace:
                if index == EVENTS_INDEX:
                    check_events_mapping(client.indices.get_mapping(index=index), index)
                done[index] = "kept"
                continue
            client.indices.delete(index=index)
        client.indices.create(index=index, body=render("mappings", template))
        done[index] = "created"
    return done


def index_ubi(client: Any, events: pd.DataFrame, queries: pd.DataFrame, replace: bool = False,
              chunk_size: int = 2000) -> dict[str, Any]:
    """Index the simulated documents (after :func:`create_ubi_indices`) and refresh; returns the counts.
    A rejected document is an error, with the cluster's reason."""
    from opensearchpy.helpers import streaming_bulk

    indices = create_ubi_indices(client, replace=replace)
    counts = {}
    for index, docs in ((QUERIES_INDEX, query_documents(queries)), (EVENTS_INDEX, event_documents(events))):
        n = 0
        actions = ({"_index": index, "_source": doc} for doc in docs)
        for ok, item in streaming_bulk(client, actions, chunk_size=chunk_size, raise_on_error=False,
                                       max_retries=3):
            if not ok:
                raise MrosError(f"{index}: the cluster rejected a document: {json.dumps(item)[:400]}",
                                f"check {index}'s mapping (mappings/{'ubi-events' if index == EVENTS_INDEX else 'ubi-queries'}.json)")
            n += 1
        client.indices.refresh(index=index)
        counts[index] = n
    return {"indices": indices, "documents": counts}
