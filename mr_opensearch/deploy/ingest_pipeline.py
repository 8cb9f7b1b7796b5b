"""The ``text_embedding`` ingest pipeline of engine mode: neural-search embeds each document on ingest.

Only the ``knn_vector`` layout uses it (OpenSearch before 3.1, or a model registered without a space
type); on 3.1+ the index maps ``embedding_text`` as a ``semantic`` field and neural-search's system
processor embeds it without a pipeline (:mod:`mr_opensearch.deploy.deploy`, ``_vector_layout``).

Rendered from ``pipelines/text-embedding-ingest.json`` (placeholders ``{{description}}``,
``{{model_id}}``, ``{{field_map}}``) and set as the index's ``index.default_pipeline``::

    PUT /_ingest/pipeline/<name>
    {"description": "...",
     "processors": [{"text_embedding": {"model_id": "<id>", "field_map": {"embedding_text": "embedding"}}}]}

Checked against neural-search's ``TextEmbeddingProcessorFactory`` (code corpus,
``opensearch-project/neural-search``): ``model_id`` is read with ``readStringProperty`` and ``field_map``
with ``readMap``, both required; ``batch_size``, ``description`` and ``tag`` come from the common
processor factory. ``skip_existing`` (3.x) defaults to false, so it is left out, as is ``batch_size``
(default 1). The model is not validated when the pipeline is created, only when a document arrives.
"""

from __future__ import annotations

from typing import Any

from mr_opensearch.core.templates import render

TEMPLATE = "text-embedding-ingest"


def ingest_pipeline_body(
    model_id: str,
    source_field: str = "embedding_text",
    target_field: str = "embedding",
    description: str = "mros: embeds embedding_text into embedding with an ML Commons text-embedding model",
) -> dict[str, Any]:
    """The pipeline body: ``source_field`` (the exact text the model embeds) -> ``target_field`` (knn_vector)."""
    return render("pipelines", TEMPLATE, description=description, model_id=model_id,
                  field_map={source_field: target_field})


def put_ingest_pipeline(client: Any, name: str, body: dict[str, Any]) -> None:
    """``PUT /_ingest/pipeline/<name>`` (create or replace)."""
    client.ingest.put_pipeline(id=name, body=body)


def get_ingest_pipeline(client: Any, name: str) -> dict[str, Any] | None:
    """The stored body of pipeline ``name``, or None when there is none."""
    from opensearchpy.exceptions import NotFoundError

    try:
        answer = client.ingest.get_pipeline(id=name)
    except NotFoundError:
        return None
    return answer.get(name) if answer else None
