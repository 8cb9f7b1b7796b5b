"""The Search Relevance Workbench's formats (SRW, OpenSearch 3.1+), both ways: judgment lists and query sets.

Source: ``shared/reference/opensearch-3.x-live-service.md`` section 5 (SRW ``rest/RestPutQuerySetAction.java``,
``ImportJudgmentsProcessor.java``, ``metrics/MetricsHelper.java``, ``common/PluginConstants.java``; the
documentation's ``search-relevance/{query-sets,judgments}.md``):

- **Judgment list** (``PUT /_plugins/_search_relevance/judgments``)::

      {"name": ..., "description": ..., "type": "IMPORT_JUDGMENT",
       "judgmentRatings": [{"query": "red shoes", "ratings": [{"docId": "SKU-42", "rating": "2"}, ...]}, ...]}

  ``rating`` is a string, or from 3.3 a number, that must parse as a float; **SRW enforces no scale**, so
  mros states its own: ratings are mros grades, :data:`GRADE_SCALE` (written in the description, and checked
  on reading: a rating outside the stated scale is an error naming query and document). Continuous ratings
  (e.g. SRW's COEC output) are read with ``cuts`` (a rating below ``partial`` is irrelevant, below ``exact``
  partial, else exact). Strings are written, which every SRW version reads.
- **Query set** (``PUT /_plugins/_search_relevance/query_sets``): ``{"name", "description", "sampling":
  "manual", "querySetQueries": [{"queryText", "referenceAnswer"?}]}``; name at most 50 characters,
  description at most 250, at most 1000 queries (``plugins.search_relevance.query_set.maximum``).
- **Matching** (``MetricsHelper``): a judgment's ``query`` must equal the query text exactly and ``docId`` is
  compared with the hit ``_id``, so mros writes the catalog id (the ``_id`` of a deployed document) and the
  query text unchanged: reading back gives the same graded pairs (:func:`judgments_body` then
  :func:`parse_judgments` is lossless).

A cluster's lists are read by id (``GET .../judgments/{id}``, ``GET .../query_sets/{id}``) and uploaded with
``PUT``; a cluster without the plugin is a clear error, checked on ``_cat/plugins`` before any request.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.judgments import ServingJudgments

BASE = "/_plugins/_search_relevance"
PLUGIN = "opensearch-search-relevance"
GRADE_SCALE = "0 = irrelevant, 1 = partial, 2 = exact"
SCALE_NOTE = f"mros grades as ratings: {GRADE_SCALE}"
MAX_NAME = 50
MAX_DESCRIPTION = 250
MAX_QUERIES = 1000
REFERENCE = "srw:"
"""``--judgments srw:ID`` / ``--query-set srw:ID``: a list stored in the cluster's SRW, by id."""


@dataclass
class SrwRead:
    """What reading an SRW list kept and skipped (counted, with examples)."""

    source: str
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, example: str) -> None:
        self.skipped[reason] += 1
        rows = self.examples.setdefault(reason, [])
        if len(rows) < 5:
            rows.append(example)

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "skipped": dict(self.skipped), "examples": self.examples}


# ------------------------------------------------------------------------------------------------ writing


def _check_name(name: str, description: str) -> None:
    if not name.strip() or len(name) > MAX_NAME:
        raise MrosError(f"SRW name {name!r}: must be 1 to {MAX_NAME} characters", "pass a shorter {name}",
                        parameters="name")
    if len(description) > MAX_DESCRIPTION:
        raise MrosError(f"SRW description of {len(description)} characters: at most {MAX_DESCRIPTION}",
                        "shorten it")


def judgments_body(judgments: ServingJudgments, name: str, description: str = "") -> dict[str, Any]:
    """The ``PUT /judgments`` import body of graded judgments (ratings: mros grades as strings; the scale in
    the description)."""
    description = f"{description.strip()} ({SCALE_NOTE})".strip() if description.strip() else SCALE_NOTE
    _check_name(name, description)
    return {"name": name, "description": description, "type": "IMPORT_JUDGMENT",
            "judgmentRatings": [{"query": query, "ratings": [{"docId": pid, "rating": str(grade)}
                                                             for pid, grade in judgments.graded[query].items()]}
                                for query in judgments.queries]}


def query_set_body(queries: list[str], name: str, description: str = "",
                   reference_answers: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``PUT /query_sets`` upload body (``sampling: manual``)."""
    _check_name(name, description)
    answers = reference_answers or {}
    return {"name": name, "description": description, "sampling": "manual",
            "querySetQueries": [{"queryText": q, **({"referenceAnswer": answers[q]} if answers.get(q) else {})}
                                for q in queries]}


# ------------------------------------------------------------------------------------------------ reading


def _unwrap(body: Any, key: str, source: str) -> dict[str, Any]:
    """The document holding ``key``: the body itself, a ``GET`` answer's ``_source``, or the first hit of a
    search answer."""
    if isinstance(body, dict):
        if key in body:
            return body
        if isinstance(body.get("_source"), dict) and key in body["_source"]:
            return body["_source"]
        hits = (body.get("hits") or {}).get("hits") if isinstance(body.get("hits"), dict) else None
        if hits and isinstance(hits[0].get("_source"), dict) and key in hits[0]["_source"]:
            return hits[0]["_source"]
    raise MrosError(f"{source}: not an SRW {'judgment list' if key == 'judgmentRatings' else 'query set'} "
                    f"(no {key})", f"pass the body of `PUT {BASE}/{'judgments' if key == 'judgmentRatings' else 'query_sets'}`"
                    " or a list fetched by id")


def _grade(rating: Any, cuts: tuple[float, float] | None, where: str) -> int:
    """A rating as an mros grade: a number (or a string that parses as a float, as SRW requires) on the stated
    scale, or cut by ``cuts``."""
    if isinstance(rating, bool) or rating is None:
        raise MrosError(f"{where}: rating {rating!r} is not a number", "ratings are numbers or numeric strings")
    try:
        value = float(rating)
    except (TypeError, ValueError):
        raise MrosError(f"{where}: rating {rating!r} does not parse as a number (SRW requires a float)",
                        "write the rating as a number or a numeric string") from None
    if math.isnan(value) or math.isinf(value):
        raise MrosError(f"{where}: rating {rating!r} is not a finite number", "fix the rating")
    if cuts is not None:
        if value < 0:
            raise MrosError(f"{where}: rating {rating!r} is negative, outside the stated scale (cut at "
                            f"{cuts[0]} / {cuts[1]}, from 0)", "fix the rating")
        return 0 if value < cuts[0] else 1 if value < cuts[1] else 2
    if value not in (0.0, 1.0, 2.0):
        raise MrosError(f"{where}: rating {rating!r} is outside the stated scale ({GRADE_SCALE})",
                        "convert the ratings to mros grades, or read continuous ratings (e.g. COEC's) with "
                        "{srw_cuts} PARTIAL,EXACT", parameters="srw_cuts")
    return int(value)


def parse_judgments(body: Any, source: str, cuts: tuple[float, float] | None = None,
                    catalog_ids: set[str] | None = None) -> tuple[ServingJudgments, SrwRead]:
    """An SRW judgment list as graded judgments. Errors: no ``judgmentRatings``, an entry without a query or
    ratings, a rating that is not a number or outside the stated scale, a pair rated twice differently.
    Counted skips: a pair repeated with the same rating, a rating whose ``docId`` is not in ``catalog_ids``,
    a query left with no rating in the catalog ("queries that match none of the catalog")."""
    doc = _unwrap(body, "judgmentRatings", source)
    entries = doc["judgmentRatings"]
    if not isinstance(entries, list) or not entries:
        raise MrosError(f"{source}: judgmentRatings is empty or not a list", "the list needs rated queries")
    read = SrwRead(source)
    out = ServingJudgments(path=source)
    for n, entry in enumerate(entries):
        where = f"{source}: judgmentRatings[{n}]"
        query = entry.get("query") if isinstance(entry, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise MrosError(f"{where}: no query text", "every entry needs a non-empty query")
        ratings = entry.get("ratings")
        if isinstance(ratings, dict):  # the shape SRW's COEC builds: {docId: rating}
            ratings = [{"docId": k, "rating": v} for k, v in ratings.items()]
        if not isinstance(ratings, list):
            raise MrosError(f"{where} ({query!r}): ratings is not a list", "ratings: [{docId, rating}, ...]")
        graded = out.graded.get(query, {})
        for m, item in enumerate(ratings):
            at = f"{where}.ratings[{m}] ({query!r})"
            pid = str(item.get("docId") or "").strip() if isinstance(item, dict) else ""
            if not pid:
                raise MrosError(f"{at}: no docId", "every rating needs the document's _id as docId")
            grade = _grade(item.get("rating"), cuts, f"{at}, docId {pid!r}")
            if catalog_ids is not None and pid not in catalog_ids:
                read.skip("ratings whose docId is not a catalog id", f"{query!r} / {pid!r}")
                continue
            if pid in graded:
                if graded[pid] != grade:
                    raise MrosError(f"{at}: docId {pid!r} rated {grade} here but {graded[pid]} before",
                                    "keep one rating per (query, docId)")
                read.skip("repeated (query, docId) ratings merged", f"{query!r} / {pid!r}")
                continue
            graded[pid] = grade
        if not graded:
            read.skip("queries that match none of the catalog", query)
            continue
        if query not in out.graded:
            out.queries.append(query)
        out.graded[query] = graded
    if not out.queries:
        raise MrosError(f"{source}: no rated query is left ({', '.join(f'{n} {r}' for r, n in read.skipped.items())})",
                        "use a judgment list of this catalog (docId = the catalog id)")
    return out, read


def parse_query_set(body: Any, source: str) -> tuple[list[str], dict[str, str]]:
    """An SRW query set: its query texts (in order, repeats counted once) and reference answers."""
    doc = _unwrap(body, "querySetQueries", source)
    entries = doc["querySetQueries"]
    if not isinstance(entries, list) or not entries:
        raise MrosError(f"{source}: querySetQueries is empty or not a list", "the set needs queries")
    queries: list[str] = []
    answers: dict[str, str] = {}
    for n, entry in enumerate(entries):
        text = entry.get("queryText") if isinstance(entry, dict) else entry
        if not isinstance(text, str) or not text.strip():
            raise MrosError(f"{source}: querySetQueries[{n}] has no queryText", "every query needs its text")
        if text not in answers:
            queries.append(text)
            answers[text] = str(entry.get("referenceAnswer") or "") if isinstance(entry, dict) else ""
    return queries, answers


def read_json(path: Path) -> Any:
    if not path.exists():
        raise MrosError(f"{path} not found", "pass an existing SRW JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MrosError(f"{path}: not JSON ({exc})", "an SRW list is one JSON document") from None


def is_srw_judgments(path: Path) -> bool:
    """Whether a judgments file is an SRW judgment list (a ``.json`` document with ``judgmentRatings``)."""
    if path.suffix.lower() != ".json" or not path.exists():
        return False
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    try:
        _unwrap(body, "judgmentRatings", str(path))
    except MrosError:
        return False
    return True


def restrict(judgments: ServingJudgments, queries: list[str], read: SrwRead) -> ServingJudgments:
    """The judgments of the query set's queries, in its order; counted: set queries without judgments, and
    judged queries outside the set."""
    wanted = set(queries)
    for q in judgments.queries:
        if q not in wanted:
            read.skip("judged queries not in the query set", q)
    out = ServingJudgments(path=judgments.path)
    for q in queries:
        if q not in judgments.graded:
            read.skip("query-set queries without judgments", q)
            continue
        out.queries.append(q)
        out.graded[q] = judgments.graded[q]
    if not out.queries:
        raise MrosError("no query of the query set has judgments (query text must match exactly, as in SRW)",
                        "use the query set the judgments were made for")
    return out


# ------------------------------------------------------------------------------------------------ the cluster


def require_srw(client: Any) -> None:
    """A clear error when the cluster has no SRW plugin (``_cat/plugins``)."""
    from mr_opensearch.cluster.connection import plugins

    if PLUGIN not in plugins(client):
        raise MrosError(f"the cluster has no Search Relevance Workbench (plugin {PLUGIN}, OpenSearch 3.1+): "
                        f"{BASE} is not there",
                        "install the plugin (on 3.1 also set plugins.search_relevance.workbench_enabled: true), or "
                        "use the files: `mros label export --format srw --out DIR` writes them, `mros eval "
                        "--judgments FILE` reads them")


def _request(client: Any, method: str, path: str, body: Any = None) -> Any:
    from opensearchpy.exceptions import TransportError

    try:
        return client.transport.perform_request(method, path, body=body)
    except TransportError as exc:
        status = exc.status_code if isinstance(exc.status_code, int) else 0
        text = json.dumps(exc.info)[:400] if exc.info else str(exc.error)
        if status in (400, 404, 405) and "no handler found" in text.lower():
            raise MrosError(f"{method} {path}: the cluster has no Search Relevance Workbench ({text})",
                            f"install {PLUGIN} (3.1: also plugins.search_relevance.workbench_enabled: true)") from None
        if status == 404:
            raise MrosError(f"{method} {path}: not found ({text})", "check the id (GET "
                            f"{BASE}/judgments/_search lists them)") from None
        raise MrosError(f"{method} {path} failed with HTTP {status}: {text}",
                        "read the cluster's answer above; on 3.1 the workbench is off by default "
                        "(plugins.search_relevance.workbench_enabled)") from None


def fetch(client: Any, kind: str, ident: str) -> Any:
    """``GET .../judgments/{id}`` or ``.../query_sets/{id}`` (``kind``: ``judgments`` | ``query_sets``)."""
    require_srw(client)
    return _request(client, "GET", f"{BASE}/{kind}/{ident}")


def put(client: Any, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """``PUT .../judgments`` or ``.../query_sets``; returns the cluster's answer (with the new id)."""
    require_srw(client)
    if kind == "query_sets" and len(body.get("querySetQueries", [])) > MAX_QUERIES:
        raise MrosError(f"the query set has {len(body['querySetQueries'])} queries; SRW takes at most {MAX_QUERIES} "
                        "(plugins.search_relevance.query_set.maximum)",
                        "export a split (e.g. --split test) or raise the cluster setting")
    answer = _request(client, "PUT", f"{BASE}/{kind}", body)
    return answer if isinstance(answer, dict) else {"answer": answer}
