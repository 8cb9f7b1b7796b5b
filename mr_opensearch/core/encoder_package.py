"""The variants an exported model package holds, and the encoder of each.

``mros export`` writes under ``RUN/onnx/`` one folder per variant, each with its tokenizer::

    int8/model.onnx            fused, dynamic int8: what ML Commons registers (engine mode), onnxruntime
    fp32/model.onnx            the traced graph
    openvino-int8/model.xml    static int8 calibrated on catalog titles, OpenVINO IR (+ model.bin): the
                               fastest client-mode variant, needs the ``openvino`` extra

``ml-commons.json`` names the ML Commons variant (``variant``) and the one client mode serves by default
(``client_variant``; packages exported before it existed serve ``variant``). A served copy
(``$MROS_HOME/models/...``) holds one variant's files beside ``ml-commons.json``, whose ``variant`` is
``"."`` and ``encoder_variant`` names it. The catalog and its queries must be embedded by the same
variant: the index manifest records it (``encoder_variant``) and every query encoder is checked against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import sha256_of_chunks
from mr_opensearch.core.text_encoder import REEXPORT, PooledEncoder

OPENVINO_INT8 = "openvino-int8"
ONNX_VARIANTS = ("int8", "fp32")
VARIANTS = (*ONNX_VARIANTS, OPENVINO_INT8)
MODEL_FILES = {"model.onnx": ("model.onnx",), "model.xml": ("model.xml", "model.bin")}


def model_file_of(folder: Path) -> Path | None:
    """The model file of a variant folder (``model.onnx`` or ``model.xml``), None when it holds neither."""
    for name in MODEL_FILES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def model_files(model: Path) -> list[Path]:
    """Every file of the model whose main file is ``model`` (an IR's ``.xml`` and ``.bin``)."""
    return [model.parent / name for name in MODEL_FILES.get(model.name, (model.name,))]


def model_sha256(model: Path) -> str:
    """SHA-256 of the model's files, read in order (for one ONNX file: the file's own SHA-256)."""
    def chunks():
        for path in model_files(model):
            with open(path, "rb") as fh:
                yield from iter(lambda fh=fh: fh.read(1 << 20), b"")

    return sha256_of_chunks(chunks())


def variant_of_file(model: Path, meta: dict[str, Any]) -> str:
    """The variant a model file is: ``openvino-int8`` for an IR, else its folder's name, else what a served
    copy's ``ml-commons.json`` records (``encoder_variant``, then the package's ``variant``)."""
    if model.suffix == ".xml":
        return OPENVINO_INT8
    if model.parent.name in VARIANTS:
        return model.parent.name
    recorded = meta.get("encoder_variant") or meta.get("variant")
    return str(recorded) if recorded in VARIANTS else "int8"


def read_package_meta(onnx_dir: Path) -> dict[str, Any]:
    """``ml-commons.json`` of an export folder or served copy, checked to be an object with a model_config."""
    onnx_dir = Path(onnx_dir)
    if not onnx_dir.is_dir():
        raise MrosError(f"model folder {onnx_dir} not found", "pass the RUN/onnx folder of an exported run")
    meta_path = onnx_dir / "ml-commons.json"
    if not meta_path.exists():
        raise MrosError(f"{meta_path} not found", "export the model with `mros export`, or pass the RUN/onnx folder")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MrosError(f"{meta_path}: not valid JSON ({exc})", REEXPORT) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model_config") or {}, dict):
        raise MrosError(f"{meta_path}: expected an object with a model_config object", REEXPORT)
    return meta


def served_files(onnx_dir: Path, variant: str | None = None) -> tuple[Path, Path, dict[str, Any]]:
    """``(model file, tokenizer.json, ml-commons.json contents)`` of an export folder (``RUN/onnx`` with
    ``<variant>/model.onnx`` or ``<variant>/model.xml``; the ML Commons variant unless ``variant`` is given)
    or of a served copy (the model beside ``ml-commons.json``)."""
    onnx_dir = Path(onnx_dir)
    meta = read_package_meta(onnx_dir)
    if variant is not None and model_file_of(onnx_dir / variant) is None:
        if variant == OPENVINO_INT8:
            raise MrosError(f"{onnx_dir} holds no {variant} variant ({onnx_dir / variant / 'model.xml'} not found)",
                            "re-export with `mros export` where OpenVINO and NNCF are installed "
                            "(pip install 'mros[train,openvino]')")
        raise MrosError(f"{onnx_dir / variant / 'model.onnx'} not found", REEXPORT)
    folder = onnx_dir / str(variant or meta.get("variant") or ".")
    model = model_file_of(folder) or model_file_of(onnx_dir)
    if model is None:
        raise MrosError(f"{folder / 'model.onnx'} not found", REEXPORT)
    tokenizer = model.parent / "tokenizer.json"
    for path in (*model_files(model), tokenizer):
        if not path.exists():
            raise MrosError(f"{path} not found", REEXPORT)
    return model, tokenizer, meta


def open_model_encoder(model: Path, tokenizer: Path, pooling: str = "mean", normalize: bool = True,
                       threads: int | None = None, streams: int = 1, spinning: bool = True) -> PooledEncoder:
    """The encoder of one model file: onnxruntime for ``.onnx``, OpenVINO for ``.xml`` (``streams``: how many
    threads may embed at once; onnxruntime sessions take any number)."""
    if Path(model).suffix == ".xml":
        from mr_opensearch.core.openvino_encoder import OpenVinoEncoder

        return OpenVinoEncoder(model, tokenizer, pooling, normalize, threads=threads, streams=streams,
                               spinning=spinning)
    from mr_opensearch.core.onnx_encoder import OnnxEncoder

    return OnnxEncoder(model, tokenizer, pooling, normalize, threads=threads, spinning=spinning)


def load_served_encoder(onnx_dir: Path, threads: int | None = None, variant: str | None = None,
                        spinning: bool = True) -> PooledEncoder:
    """The encoder of a packaged model (``RUN/onnx`` or a served copy), with the ``pooling_mode`` and
    ``normalize_result`` its ``ml-commons.json`` declares; refuses a model whose output size is not the
    recorded ``embedding_dimension``. ``variant`` (int8/fp32/openvino-int8) overrides the packaged variant."""
    model, tokenizer, meta = served_files(onnx_dir, variant)
    config = meta.get("model_config") or {}
    encoder = open_model_encoder(model, tokenizer, pooling=str(config.get("pooling_mode", "mean")),
                                 normalize=bool(config.get("normalize_result", True)), threads=threads,
                                 spinning=spinning)
    encoder.variant = variant_of_file(model, meta)
    expected = config.get("embedding_dimension")
    if expected is not None and encoder.dimension != int(expected):
        raise MrosError(f"{model} makes {encoder.dimension}-d vectors, ml-commons.json says {expected}", REEXPORT)
    return encoder
