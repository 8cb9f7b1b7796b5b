"""The deploy manifest: what an index serves, stored in its mapping's ``_meta`` and under ``RUN/deploy/``.

Every index mros creates carries this record, so ``mros search``, ``eval``, ``rollback`` and ``status``
need nothing but the cluster (and, in client mode, the served model under ``$MROS_HOME/models/<sha>``).
Secrets never go in here: no URL with credentials, no user, no password.

Fields:

* ``created_by`` is always ``"mros"``: an alias pointing at an index without it is not ours to move;
* ``complete`` turns true only after every document is in, refreshed and counted;
* ``boundaries``: the learned grade boundaries as cosines and as the engine's score (lucene
  ``cosinesimil`` scores a hit ``(1 + cos) / 2``), used for radial search, badges and the hybrid
  dense leg's lower bound;
* ``hybrid``: the :class:`mr_opensearch.search.fusion.HybridSettings` the index serves with;
* ``vector_layout``: where the index keeps its vectors. ``knn_vector`` (client mode, and engine mode
  before OpenSearch 3.1): the ``embedding`` field, filled by mros or by a ``text_embedding`` ingest
  pipeline, queried with ``neural`` naming ``model_id``. ``semantic`` (engine mode on 3.1+):
  ``embedding_text`` is a neural-search ``semantic`` field whose mapping names the model; its vectors
  are at ``embedding_text_semantic_info.embedding`` (a system processor embeds, no pipeline), and a
  ``neural`` query on it names no model, so neural-search embeds the query with each index's own model
  (an alias moved between indices of different models stays consistent). Manifests written before the
  field existed are ``knn_vector``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.core.safe_write import write_text
from mr_opensearch.core.version import __version__

CREATED_BY = "mros"
GRADES = ("irrelevant", "partial", "exact")
VectorLayout = Literal["knn_vector", "semantic"]
KNN_VECTOR_FIELD = "embedding"
"""The ``knn_vector`` field of the ``knn_vector`` layout."""
SEMANTIC_FIELD = "embedding_text"
"""The ``semantic`` field of the ``semantic`` layout: the text the model embeds."""
SEMANTIC_VECTOR_PATH = f"{SEMANTIC_FIELD}_semantic_info.embedding"
"""Where neural-search keeps a ``semantic`` field's vector (default ``semantic_info_field_name``, no chunking)."""


def cosine_to_score(cosine: float, space_type: str = "cosinesimil") -> float:
    """The k-NN score of a hit with this cosine (lucene engine, k-NN 3.5).

    ``cosinesimil``: ``max((1 + cos) / 2, 0)``; ``innerproduct`` on unit vectors: ``1 + cos`` for
    ``cos >= 0`` else ``1 / (1 - cos)``.
    """
    if not math.isfinite(cosine):
        raise MrosError(f"boundary {cosine} is not a finite cosine", "regenerate boundaries.json with `mros train`")
    if space_type == "cosinesimil":
        return max((1.0 + cosine) / 2.0, 0.0)
    if space_type == "innerproduct":
        return 1.0 + cosine if cosine >= 0 else 1.0 / (1.0 - cosine)
    raise MrosError(f"no score conversion for space type {space_type!r}", "use cosinesimil or innerproduct")


def score_to_cosine(score: float, space_type: str = "cosinesimil") -> float:
    """Inverse of :func:`cosine_to_score`."""
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    if space_type == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    raise MrosError(f"no score conversion for space type {space_type!r}", "use cosinesimil or innerproduct")


class Boundaries(BaseModel):
    """Grade boundaries: ``partial`` <= ``exact``, as cosines and as engine scores."""

    model_config = ConfigDict(extra="forbid")
    cosine: dict[str, float]
    engine_score: dict[str, float]

    @classmethod
    def from_cosines(cls, partial: float, exact: float, space_type: str = "cosinesimil") -> Boundaries:
        if not (-1.0 <= partial <= exact <= 1.0):
            raise MrosError(f"boundaries out of order or out of range: partial {partial}, exact {exact}",
                            "the partial boundary must not exceed the exact one; regenerate boundaries.json")
        return cls(cosine={"partial": partial, "exact": exact},
                   engine_score={"partial": cosine_to_score(partial, space_type),
                                 "exact": cosine_to_score(exact, space_type)})

    def grade_of_score(self, score: float) -> str:
        """The grade badge of a dense hit with this engine score."""
        if score >= self.engine_score["exact"]:
            return "exact"
        if score >= self.engine_score["partial"]:
            return "partial"
        return "irrelevant"

    def min_score(self, min_grade: str) -> float:
        """The radial ``min_score`` that keeps hits of ``min_grade`` or better."""
        if min_grade not in ("partial", "exact"):
            raise UsageError(f"unknown grade {min_grade!r}", "use partial or exact", parameters="min_grade")
        return self.engine_score[min_grade]


UPDATE_HISTORY = 50
"""In-place updates an index's manifest remembers (``Manifest.updates``)."""


class Manifest(BaseModel):
    """What one mros index serves (see the module docstring)."""

    model_config = ConfigDict(extra="allow")

    created_by: Literal["mros"] = CREATED_BY
    mros_version: str = __version__
    complete: bool = False
    index: str
    alias: str
    run: str | None = None
    run_sha256: str | None = None
    model_sha256: str
    onnx_sha256: str | None = None
    """SHA-256 of the model files the index's vectors were embedded with (client mode: the ONNX file, or an
    OpenVINO IR's ``.xml`` and ``.bin``); every query encoder is checked against it. Indices deployed
    before it was recorded have None."""
    encoder_variant: str | None = None
    """The package variant whose vectors the index holds (``int8``, ``fp32``, ``openvino-int8``;
    :mod:`mr_opensearch.core.encoder_package`): a query encoder of another variant is refused. Indices
    deployed before it was recorded have None (the package's ML Commons variant)."""
    catalog_sha256: str
    catalog: str | None = None
    gate: dict[str, Any] | None = None
    """The release gate's record when the index was deployed with ``--gate`` (both indices' metrics, the verdict)."""
    previous_index: str | None = None
    """The index the alias pointed at when a deploy moved it here: ``mros rollback`` goes back to it."""
    embedding: Literal["client", "engine"]
    model_id: str | None = None
    model_dir: str | None = None
    dimension: int
    space_type: str = "cosinesimil"
    pooling_mode: str = "MEAN"
    normalize_result: bool = True
    text_fields: list[str] = Field(default_factory=lambda: ["title"])
    text_analyzer: str = "standard"  # indices deployed before the field existed were analysed with standard
    embedding_fields: list[str] = Field(default_factory=lambda: ["title"])
    vector_layout: VectorLayout = "knn_vector"
    """``knn_vector`` or ``semantic`` (see the module docstring); older manifests are ``knn_vector``."""
    ingest_pipeline: str | None = None
    search_pipeline: str | None = None
    boundaries: Boundaries | None = None
    hybrid: dict[str, Any] = Field(default_factory=dict)
    documents: int
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    completed_at: str | None = None
    updating: dict[str, Any] | None = None
    """An in-place update under way (``mros deploy --in-place``): ``{catalog_sha256, catalog, started_at}``;
    None when the index holds exactly the catalog of ``catalog_sha256``. A rerun of that update finishes it."""
    cloned_from: str | None = None
    """The live index this one began as a ``_clone`` of (an incremental deploy,
    :mod:`mr_opensearch.deploy.cloned_index`): the new catalog's difference is applied to the clone, and a
    resumed deploy applies what is still different."""
    cloning_into: str | None = None
    """Set on a live index while a deploy clones it into that index (it carries ``index.blocks.write`` then):
    a rerun after a kill knows the block is mros's and clears it."""
    updates: list[dict[str, Any]] = Field(default_factory=list)
    """The in-place updates applied to this index, oldest first (the last :data:`UPDATE_HISTORY`): ``{at,
    catalog_sha256, catalog, embedded, fields_updated, deleted, seconds}``."""

    @property
    def neural_field(self) -> str:
        """The field a ``neural`` query names: the semantic field, or the ``knn_vector`` field."""
        return SEMANTIC_FIELD if self.vector_layout == "semantic" else KNN_VECTOR_FIELD

    @property
    def vector_path(self) -> str:
        """Where a document's vector is in its ``_source``."""
        return SEMANTIC_VECTOR_PATH if self.vector_layout == "semantic" else KNN_VECTOR_FIELD

    def to_meta(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None, index: str) -> Manifest | None:
        """The manifest of an index, or None when mros did not create it."""
        if not meta or meta.get("created_by") != CREATED_BY:
            return None
        try:
            return cls.model_validate(meta)
        except Exception as exc:
            raise MrosError(f"index {index} has an unreadable mros manifest ({exc.__class__.__name__})",
                            f"inspect `GET /{index}/_mapping`; redeploy to replace it") from None

    def write(self, path: Path) -> Path:
        return write_text(path, json.dumps(self.to_meta(), indent=2, sort_keys=True))


def read_index_manifest(client: Any, index: str) -> Manifest | None:
    """The manifest in ``index``'s ``_meta`` (None when the index is not mros's)."""
    mapping = client.indices.get_mapping(index=index)
    body = mapping.get(index) or next(iter(mapping.values()))
    return Manifest.from_meta(body.get("mappings", {}).get("_meta"), index)
