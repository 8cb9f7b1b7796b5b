"""The engine self-check of an engine-mode deploy: ML Commons must embed as mros's own ONNX encoder does.

Engine mode hands the embedding to the cluster: ML Commons runs the run's packaged ONNX model with the
``pooling_mode`` and ``normalize_result`` of ``RUN/onnx/ml-commons.json``, in its own runtime (DJL, its
own tokenizer truncation). If that disagrees with what the run was trained and evaluated with, every
vector is off and nothing else would notice: queries and documents would be embedded alike, wrongly.
So the deploy compares the cluster's vectors with the client-side ONNX vectors of the same texts
(:func:`mr_opensearch.search.served_model.open_encoder`, which pools as ``ml-commons.json`` says):

1. :func:`check_predict`, right after the model is deployed and before any pipeline, index or document is
   written: the probe texts (:func:`probe_texts`: the first, the longest and the shortest text the index
   embeds) go to ``POST /_plugins/_ml/_predict/text_embedding/<model id>``
   (:func:`mr_opensearch.deploy.ml_commons.predict_vectors`);
2. :func:`check_stored_vectors`, after the first bulk request of documents and before the alias moves:
   those documents' stored vectors are read back with ``_mget`` (``knn_vector`` layout: ``embedding`` in
   ``_source``; ``semantic`` layout: ``embedding_text_semantic_info.embedding``, written by neural-search's
   system processor), which checks the ingest side (pipeline or semantic field) end to end.

Each vector must have the model's dimension and a cosine of at least :data:`MIN_COSINE` with mros's
vector of the same text; otherwise :class:`EngineMismatch` (a :class:`MrosError`) says which text, the
cosine, the pooling and normalisation of ``ml-commons.json``, and that ``--embedding client`` (mros embeds
with the ONNX model itself) works. A dry run only plans the checks (:meth:`WritePlan.note`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy import ml_commons
from mr_opensearch.deploy.write_plan import WritePlan
from mr_opensearch.search.served_model import ServedModel

MIN_COSINE = 0.99
"""The least cosine between the cluster's vector and mros's vector of one text. The same ONNX graph in two
runtimes agrees to about 1e-6; a pooling or normalisation mismatch, or a truncation at another length,
moves it far below 0.99."""
PROBES = 3
"""How many probe texts the predict check sends."""
STORED_PROBES = 3
"""How many of the first bulk request's documents have their stored vectors read back."""

Encode = Callable[[list[str]], np.ndarray]


class EngineMismatch(MrosError):
    """The cluster's vectors disagree with mros's ONNX vectors of the same texts (or have another dimension)."""

    def followed_by(self, note: str) -> EngineMismatch:
        """The same error with ``note`` (what the deploy did about it) after its message."""
        message, hint = self._templates
        return EngineMismatch(f"{message}. {note}", hint, self.exit_code, parameters=self.parameters)


def probe_texts(texts: Sequence[str], n: int = PROBES) -> list[str]:
    """Up to ``n`` distinct non-empty texts of the catalog: the first, the longest and the shortest, then the
    next ones in catalog order (the longest exercises truncation, the shortest padding)."""
    present = [t for t in texts if t and t.strip()]
    if not present:
        return []
    picked: list[str] = []
    for text in (present[0], max(present, key=len), min(present, key=len), *present[1:]):
        if text not in picked:
            picked.append(text)
        if len(picked) >= n:
            break
    return picked


def cosines(engine: Sequence[Sequence[float]], client: np.ndarray) -> list[float]:
    """Cosine of each pair of rows (0 where a vector is all zeros)."""
    out = []
    for a, b in zip(engine, client, strict=True):
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        norm = float(np.linalg.norm(x) * np.linalg.norm(y))
        out.append(float(x @ y / norm) if norm > 0 else 0.0)
    return out


def _pooling(model: ServedModel) -> str:
    where = model.zip_path.parent / "ml-commons.json" if model.zip_path is not None else Path("ml-commons.json")
    return (f"ML Commons pools as {where} says (model_config.pooling_mode {model.pooling_mode}, "
            f"normalize_result {str(model.normalize_result).lower()})")


CLIENT_HINT = ("check that pooling_mode and normalize_result in RUN/onnx/ml-commons.json are those the model was "
               "trained with (`mros export --run RUN` writes them), or deploy with {embedding} client: mros then "
               "embeds the catalog and the queries with the ONNX model itself")


def compare(model: ServedModel, labels: Sequence[str], engine: Sequence[Sequence[float]], client: np.ndarray,
            what: str) -> float:
    """The least cosine of ``engine`` against ``client`` row by row (``labels`` name the rows); raises
    :class:`EngineMismatch` for another dimension or a cosine under :data:`MIN_COSINE`."""
    for label, vector in zip(labels, engine, strict=True):
        if len(vector) != model.dimension:
            raise EngineMismatch(f"{what}: the vector of {label} has {len(vector)} dimensions, the ONNX model makes "
                                 f"{model.dimension}-d ones; {_pooling(model)}", CLIENT_HINT, parameters="embedding")
    found = cosines(engine, client)
    worst = min(range(len(found)), key=found.__getitem__)
    if found[worst] < MIN_COSINE:
        bad = sum(1 for c in found if c < MIN_COSINE)
        raise EngineMismatch(f"{what}: the cluster's vectors disagree with mros's ONNX encoder: cosine "
                             f"{found[worst]:.4f} for {labels[worst]} (at least {MIN_COSINE} needed; {bad} of "
                             f"{len(found)} probes below); {_pooling(model)}", CLIENT_HINT, parameters="embedding")
    return found[worst]


def check_predict(client: Any, model: ServedModel, model_id: str, texts: Sequence[str], encode: Encode,
                  plan: WritePlan) -> float | None:
    """The deployed model embeds the probe texts as mros does; returns the least cosine (None in a dry run,
    where the request is only planned, or without a text to probe)."""
    probes = probe_texts(texts)
    if not probes:
        return None
    path, body = ml_commons.predict_path(model_id), ml_commons.predict_body(probes)
    if plan.dry_run:
        plan.note("POST", path, body, summary=f"engine self-check: ML Commons' vectors of {len(probes)} catalog "
                  f"texts compared with mros's ONNX vectors (cosine >= {MIN_COSINE}) before anything is indexed")
        return None
    engine = ml_commons.predict_vectors(client, model_id, probes)
    return compare(model, [repr(t) for t in probes], engine, np.asarray(encode(probes)),
                   f"engine self-check of model {model_id} (predict)")


def _at(source: dict[str, Any], path: str) -> Any:
    value: Any = source
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def stored_vectors(client: Any, index: str, ids: Sequence[str], path: str) -> dict[str, list[float] | None]:
    """The vector at ``path`` in each document's ``_source`` (``_mget``, only that path); None where a
    document or its vector is missing."""
    answer = client.mget(index=index, body={"ids": list(ids)}, params={"_source_includes": path})
    found: dict[str, list[float] | None] = {doc_id: None for doc_id in ids}
    for doc in answer.get("docs", []):
        vector = _at(doc.get("_source") or {}, path) if doc.get("found") else None
        if isinstance(vector, list):
            found[str(doc["_id"])] = [float(x) for x in vector]
    return found


def plan_stored_check(plan: WritePlan, index: str, path: str) -> None:
    plan.note("POST", f"/{index}/_mget", summary=f"engine self-check: after the first bulk request, the stored "
              f"vectors ({path}) of {STORED_PROBES} of its documents compared with mros's ONNX vectors "
              f"(cosine >= {MIN_COSINE}) before the alias moves")


def check_stored_vectors(client: Any, model: ServedModel, index: str, docs: Sequence[dict[str, Any]], path: str,
                         encode: Encode) -> float | None:
    """The stored vectors of (up to :data:`STORED_PROBES` of) ``docs`` are those mros computes for their
    ``embedding_text``; returns the least cosine (None without documents)."""
    probes = list(docs[:STORED_PROBES])
    if not probes:
        return None
    ids = [str(d["product_id"]) for d in probes]
    stored = stored_vectors(client, index, ids, path)
    missing = [doc_id for doc_id in ids if stored[doc_id] is None]
    what = f"engine self-check of {index} (stored vectors)"
    if missing:
        raise EngineMismatch(f"{what}: document(s) {', '.join(missing)} have no vector at {path} after indexing; "
                             f"the cluster did not embed them", CLIENT_HINT, parameters="embedding")
    client_vectors = np.asarray(encode([str(d["embedding_text"]) for d in probes]))
    labels = [f"document {d['product_id']} ({str(d['embedding_text'])[:60]!r})" for d in probes]
    return compare(model, labels, [stored[doc_id] or [] for doc_id in ids], client_vectors, what)
