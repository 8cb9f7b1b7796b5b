"""Export a sentence-transformers model to ONNX the way OpenSearch ML Commons runs it.

What is written under ``out_dir``::

    fp32/model.onnx, fp32/tokenizer.json   token embeddings (output ``last_hidden_state``)
    int8/model.onnx, int8/tokenizer.json   fused for ONNX Runtime's CPU kernels, then dynamic int8
                                           quantization with per-channel weights
    openvino-int8/model.xml, model.bin,    the client-mode variant: OpenVINO IR quantized statically to
    openvino-int8/tokenizer.json           int8 by NNCF, calibrated on catalog titles (where OpenVINO and
                                           NNCF are installed)
    ml-commons.zip                         exactly one .onnx + tokenizer.json (int8 by default)
    ml-commons.json                        register body: model_config, SHA-256, size, format; ``variant``
                                           (ML Commons') and ``client_variant`` (client mode's)

Design notes (each learned the hard way, see the project brief):

* ML Commons' ONNX Runtime is old: the graph is exported with the TorchScript exporter at opset
  <= 19 and IR version <= 9. Pooling and normalisation are *not* in the graph: ML Commons applies
  ``pooling_mode`` and ``normalize_result`` from ``model_config`` itself.
* Inputs are ``input_ids``, ``attention_mask`` and, where the model has them, ``token_type_ids``
  (ML Commons feeds ``token_type_ids`` when ``model_type`` is ``bert``).
* int8 uses per-channel weight scales: per-tensor scales cost MiniLM several points of cosine.
* Before quantization the int8 graph's attention, LayerNorm and GELU are fused into ONNX Runtime's
  ``com.microsoft`` CPU kernels (QAttention, SkipLayerNormalization, ...), which every ONNX Runtime
  build since 1.x runs; ``fuse=False`` keeps the plain ONNX graph. Opset/IR limits apply to both.
* Parity is checked against a *freshly loaded* PyTorch model (mean cosine of sentence embeddings),
  and a failed check raises :class:`ExportParityError`: nothing is shipped silently degraded.
* Client mode is not bound to ML Commons' runtime: its default variant (``openvino-int8``) is the fp32
  graph quantized statically by NNCF (transformer preset: SmoothQuant, fast bias correction) with
  activation ranges calibrated on catalog titles, run by OpenVINO. On a 2-core AVX-512 VNNI CPU it
  embeds titles about 1.6x faster per token than the int8 ONNX package and stays closer to fp32 (cosine
  0.997 against 0.992 on 512 Home Depot titles). onnxruntime's own static quantization lost parity
  (cosine 0.93) and was no faster. Without OpenVINO and NNCF the export leaves it out and client mode
  serves the ML Commons variant.
"""

from __future__ import annotations

import inspect
import json
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import file_sha256
from mr_opensearch.core.onnx_encoder import OnnxEncoder, pool  # noqa: F401  (re-exported: trainer.export's API)
from mr_opensearch.core.safe_write import write_text

MAX_IR_VERSION = 9
CLIENT_VARIANTS = ("openvino-int8", "int8", "fp32")
CALIBRATION_TEXTS = 300
"""Titles NNCF calibrates the activation ranges of the ``openvino-int8`` variant on (its subset size)."""
MAX_OPSET = 19
DEFAULT_OPSET = 17

PARITY_TEXTS = [
    "cordless drill 18v with battery",
    "stainless steel kitchen faucet, pull-down sprayer",
    "taladro inalámbrico con batería",
    "電動ドリル 充電式",
    "LED light bulb 60W equivalent soft white (4-pack)",
    "Peinture acrylique pour l'extérieur, blanc mat",
    "2 in. x 4 in. x 8 ft. premium kiln-dried whitewood stud",
    "a",
]


class ExportParityError(MrosError):
    """The exported model's embeddings disagree with PyTorch beyond the allowed tolerance."""


@dataclass
class ExportResult:
    out_dir: Path
    fp32_onnx: Path
    int8_onnx: Path | None
    zip_path: Path
    sha256: str
    size_bytes: int
    model_config: dict
    parity: dict = field(default_factory=dict)
    packaged_variant: str = "int8"
    client_variant: str = "int8"
    openvino_model: Path | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def _token_model(model_dir: Path):
    import torch
    from transformers import AutoModel

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, hf_model, with_token_types: bool) -> None:
            super().__init__()
            self.hf_model = hf_model
            self.with_token_types = with_token_types

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if self.with_token_types:
                kwargs["token_type_ids"] = token_type_ids
            return self.hf_model(**kwargs).last_hidden_state

    hf_model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    hf_model.eval()
    with_token_types = getattr(hf_model.config, "type_vocab_size", 0) > 0 and (
        "token_type_ids" in inspect.signature(hf_model.forward).parameters
    )
    return TokenEmbeddings(hf_model, with_token_types), hf_model.config


def _transformer_dir(model_dir: Path) -> Path:
    """The directory holding the HF transformer of a sentence-transformers model (usually the root)."""
    modules = model_dir / "modules.json"
    if modules.exists():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("Transformer"):
                return model_dir / module.get("path", "")
    return model_dir


def _pooling_mode(model_dir: Path) -> str:
    for cfg in sorted(model_dir.glob("*_Pooling/config.json")):
        data = json.loads(cfg.read_text())
        if data.get("pooling_mode_cls_token"):
            return "cls"
        if data.get("pooling_mode_max_tokens"):
            return "max"
        if data.get("pooling_mode") in ("cls", "max", "mean"):
            return data["pooling_mode"]
        return "mean"
    return "mean"


def _normalizes(model_dir: Path) -> bool:
    modules = model_dir / "modules.json"
    if not modules.exists():
        return True
    return any(m.get("type", "").endswith("Normalize") for m in json.loads(modules.read_text()))


def _write_tokenizer(model_dir: Path, dest: Path, max_length: int) -> None:
    from tokenizers import Tokenizer

    source = _transformer_dir(model_dir) / "tokenizer.json"
    if not source.exists():
        source = model_dir / "tokenizer.json"
    if not source.exists():
        raise MrosError(
            f"{model_dir} has no tokenizer.json (ML Commons needs a fast tokenizer)",
            "save the model with a fast tokenizer: AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(dir)",
        )
    tok = Tokenizer.from_file(str(source))
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    tok.save(str(dest))


def _clamp_versions(path: Path) -> tuple[int, int]:
    import onnx

    model = onnx.load(str(path))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > MAX_OPSET:
        raise MrosError(f"{path}: opset {opset} > {MAX_OPSET}, which ML Commons' ONNX Runtime cannot load")
    if model.ir_version > MAX_IR_VERSION:
        model.ir_version = MAX_IR_VERSION
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return model.ir_version, opset


def export_onnx(model_dir: Path, onnx_path: Path, opset: int = DEFAULT_OPSET) -> list[str]:
    """Trace the transformer of ``model_dir`` to ``onnx_path`` (token embeddings). Returns input names."""
    import torch
    from transformers import AutoTokenizer

    transformer_dir = _transformer_dir(model_dir)
    module, _ = _token_model(transformer_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(transformer_dir))
    sample = tokenizer(["export sample text", "a second, longer sample sentence for tracing"],
                       padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if module.with_token_types else [])
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    args = tuple(sample[n] for n in names)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    dynamic["last_hidden_state"] = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            module, args, str(onnx_path), input_names=names, output_names=["last_hidden_state"],
            dynamic_axes=dynamic, opset_version=min(opset, MAX_OPSET), do_constant_folding=True, dynamo=False,
        )
    _clamp_versions(onnx_path)
    return names


# Architectures whose attention/LayerNorm/GELU patterns ONNX Runtime's transformer optimizer fuses.
FUSABLE_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                       "mpnet": "bert", "electra": "bert"}


def fuse_transformer(fp32_path: Path, fused_path: Path, hf_config: dict, fusion_options: dict | None = None) -> dict | None:
    """Fuse the encoder's attention, LayerNorm and GELU subgraphs into ONNX Runtime's CPU kernels
    (``com.microsoft`` Attention, SkipLayerNormalization, EmbedLayerNormalization, BiasGelu), so that
    quantization can use the int8 QAttention kernel. Returns the fused-op counts, or None when the
    architecture is not one the optimizer knows or nothing was fused (the caller keeps the plain graph).
    Only the opset domains the fused graph uses are kept in its header. ``fusion_options``: attributes
    set on the optimizer's ``FusionOptions`` (e.g. ``{"enable_gelu_approximation": True}``; for
    benchmarks of variants, the export uses the defaults)."""
    import onnx

    opt_type = FUSABLE_MODEL_TYPES.get(str(hf_config.get("model_type", "")).lower())
    if opt_type is None:
        return None
    from onnxruntime.transformers.optimizer import optimize_model

    options = None
    if fusion_options:
        from onnxruntime.transformers.fusion_options import FusionOptions

        options = FusionOptions(opt_type)
        for key, value in fusion_options.items():
            setattr(options, key, value)
    try:
        optimized = optimize_model(str(fp32_path), model_type=opt_type, opt_level=1, optimization_options=options,
                                   num_heads=int(hf_config.get("num_attention_heads", 0) or 0),
                                   hidden_size=int(hf_config.get("hidden_size", 0) or 0))
    except Exception:  # the optimizer does not recognise this graph: keep the plain one
        return None
    stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    if not stats.get("Attention"):
        return None
    model = optimized.model
    used = {n.domain or "" for n in model.graph.node}
    keep = [o for o in model.opset_import if (o.domain or "") in used or o.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    fused_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(fused_path))
    return stats


def quantize_int8(fp32_path: Path, int8_path: Path, per_channel: bool = True, hf_config: dict | None = None) -> dict | None:
    """Dynamic int8 quantization (weights int8 per channel, activations quantized at run time).

    With ``hf_config`` the graph is first fused (:func:`fuse_transformer`) so attention runs as one
    int8 kernel: 1.1-1.2x the speed of quantizing the plain graph on a 2-core AVX-512 CPU (see
    docs/benchmarks.md, session 2). Returns the fused-op counts, or None when the plain graph was quantized."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path.parent.mkdir(parents=True, exist_ok=True)
    fused = None
    with tempfile.TemporaryDirectory(dir=int8_path.parent) as tmp:
        source = fp32_path
        if hf_config is not None:
            fused_path = Path(tmp) / "fused.onnx"
            fused = fuse_transformer(fp32_path, fused_path, hf_config)
            if fused is not None:
                source = fused_path
        # DefaultTensorType: fused com.microsoft nodes have no ONNX shape inference; their outputs are float
        quantize_dynamic(str(source), str(int8_path), per_channel=per_channel, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": 1})
    _clamp_versions(int8_path)
    return fused


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return float((a * b).sum(axis=1).mean())


@dataclass
class ReferenceEmbeddings:
    """What the export needs from the PyTorch model: its reference embeddings of the parity texts and how
    ML Commons must pool and normalise the ONNX graph's token embeddings."""

    texts: list[str]
    expected: np.ndarray
    max_length: int
    pooling: str
    normalize: bool
    hf_config: dict

    @property
    def dimension(self) -> int:
        return int(self.expected.shape[1])


def check_export_arguments(model_dir: Path, package: str, quantize: bool) -> str:
    """Validate the model directory and package variant; returns the variant to package (``fp32`` when
    int8 was asked for without quantization)."""
    if not model_dir.exists():
        raise MrosError(f"model directory {model_dir} does not exist", "pass the RUN/model directory of a training run")
    if package not in ("int8", "fp32"):
        raise MrosError(f"unknown package variant {package!r}", "use int8 or fp32")
    return "fp32" if package == "int8" and not quantize else package


def reference_embeddings(model_dir: Path, max_length: int | None, parity_texts: list[str] | None) -> ReferenceEmbeddings:
    """Load the model freshly with sentence-transformers on the CPU and embed the parity texts (normalised);
    read pooling, normalisation and the transformer's config from the directory."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir), device="cpu")
    max_length = max_length or int(reference.max_seq_length or 128)
    pooling = _pooling_mode(model_dir)
    normalize = _normalizes(model_dir)
    texts = parity_texts or PARITY_TEXTS
    expected = reference.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    del reference
    hf_config = json.loads((_transformer_dir(model_dir) / "config.json").read_text())
    return ReferenceEmbeddings(texts, expected, max_length, pooling, normalize, hf_config)


def onnx_parity(onnx_path: Path, reference: ReferenceEmbeddings) -> float:
    """Mean cosine between the ONNX graph's pooled embeddings (tokenizer next to it) and the reference."""
    encoder = OnnxEncoder(onnx_path, onnx_path.parent / "tokenizer.json", reference.pooling)
    return mean_cosine(reference.expected, encoder.encode(reference.texts))


def export_fp32(model_dir: Path, out_dir: Path, opset: int, reference: ReferenceEmbeddings,
                min_fp32_cosine: float) -> tuple[Path, dict]:
    """Trace the fp32 graph and write its tokenizer under ``out_dir/fp32``; raises
    :class:`ExportParityError` below ``min_fp32_cosine``. Returns the graph's path and the parity dict."""
    fp32 = out_dir / "fp32" / "model.onnx"
    export_onnx(model_dir, fp32, opset=opset)
    _write_tokenizer(model_dir, fp32.parent / "tokenizer.json", reference.max_length)
    parity = {"fp32_mean_cosine": onnx_parity(fp32, reference)}
    if parity["fp32_mean_cosine"] < min_fp32_cosine:
        raise ExportParityError(
            f"fp32 ONNX parity failed: mean cosine {parity['fp32_mean_cosine']:.6f} < {min_fp32_cosine}",
            "the exported graph differs from the PyTorch model; check for custom modules the exporter does not trace",
        )
    return fp32, parity


def export_int8(fp32: Path, out_dir: Path, reference: ReferenceEmbeddings, fuse: bool, min_int8_cosine: float,
                parity: dict) -> Path:
    """Quantize (after fusion when ``fuse``) into ``out_dir/int8`` with the fp32 tokenizer; adds the fused-op
    counts and the int8 cosine to ``parity`` and raises :class:`ExportParityError` below ``min_int8_cosine``."""
    int8 = out_dir / "int8" / "model.onnx"
    parity["int8_fused_ops"] = quantize_int8(fp32, int8, hf_config=reference.hf_config if fuse else None)
    shutil.copy(fp32.parent / "tokenizer.json", int8.parent / "tokenizer.json")
    parity["int8_mean_cosine"] = onnx_parity(int8, reference)
    if parity["int8_mean_cosine"] < min_int8_cosine:
        raise ExportParityError(
            f"int8 ONNX parity failed: mean cosine {parity['int8_mean_cosine']:.6f} < {min_int8_cosine}",
            "ship the fp32 variant (--package fp32), or export without fusion (--no-fuse)",
        )
    return int8


def openvino_export_missing() -> str | None:
    """Why the ``openvino-int8`` variant cannot be built here (None when OpenVINO and NNCF import)."""
    try:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'mros[train,openvino]')"
    return None


def calibration_batches(tokenizer_json: Path, texts: list[str], input_names: list[str]) -> list[dict]:
    """One unpadded input dict per calibration text (at most :data:`CALIBRATION_TEXTS`, evenly spread)."""
    from mr_opensearch.core.text_encoder import load_tokenizer
    from mr_opensearch.core.token_batches import token_batches

    step = max(1, len(texts) // CALIBRATION_TEXTS)
    chosen = [t for t in texts[::step] if t.strip()][:CALIBRATION_TEXTS]
    tokenizer = load_tokenizer(tokenizer_json)
    return [batch.feeds(input_names) for batch in token_batches(tokenizer, chosen, 1)]


def export_openvino_int8(fp32: Path, out_dir: Path, reference: ReferenceEmbeddings, calibration_texts: list[str],
                         min_cosine: float, parity: dict) -> Path:
    """Quantize the fp32 graph statically to int8 with NNCF for OpenVINO (``out_dir/openvino-int8``),
    activation ranges calibrated on ``calibration_texts``; adds the cosine to ``parity`` and raises
    :class:`ExportParityError` below ``min_cosine``."""
    import logging

    import nncf
    import openvino as ov

    from mr_opensearch.core.openvino_encoder import OpenVinoEncoder

    logging.getLogger("nncf").setLevel(logging.WARNING)
    target = out_dir / "openvino-int8" / "model.xml"
    target.parent.mkdir(parents=True, exist_ok=True)
    model = ov.Core().read_model(str(fp32))
    names = [next(iter(port.get_names())) for port in model.inputs]
    items = calibration_batches(fp32.parent / "tokenizer.json", calibration_texts, names)
    quantized = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(items), preset=nncf.QuantizationPreset.PERFORMANCE)
    ov.save_model(quantized, str(target))
    shutil.copy(fp32.parent / "tokenizer.json", target.parent / "tokenizer.json")
    encoder = OpenVinoEncoder(target, target.parent / "tokenizer.json", reference.pooling, reference.normalize)
    parity["openvino_int8_mean_cosine"] = mean_cosine(reference.expected, encoder.encode(reference.texts))
    parity["openvino_int8_calibration_texts"] = len(items)
    if parity["openvino_int8_mean_cosine"] < min_cosine:
        raise ExportParityError(
            f"openvino-int8 parity failed: mean cosine {parity['openvino_int8_mean_cosine']:.6f} < {min_cosine}",
            "calibrate on more catalog titles ({calibration}), or serve the ONNX int8 variant in client mode "
            "({client_variant} int8)", parameters=("calibration", "client_variant"))
    return target


def write_ml_commons_zip(chosen: Path, zip_path: Path) -> None:
    """The package ML Commons registers: exactly ``model.onnx`` and ``tokenizer.json``."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(chosen, "model.onnx")
        zf.write(chosen.parent / "tokenizer.json", "tokenizer.json")


def ml_commons_model_config(reference: ReferenceEmbeddings) -> dict:
    """ML Commons' ``model_config``: model type, dimension, pooling and normalisation it applies itself."""
    return {
        "model_type": reference.hf_config.get("model_type", "bert"),
        "embedding_dimension": reference.dimension,
        "framework_type": "sentence_transformers",
        "pooling_mode": reference.pooling.upper(),
        "normalize_result": bool(reference.normalize),
        "all_config": json.dumps(reference.hf_config, sort_keys=True),
    }


def graph_versions(chosen: Path, fp32: Path, int8: Path | None) -> dict:
    """The packaged graph's IR version and opset, and the sizes of both graphs."""
    import onnx

    graph = onnx.load(str(chosen), load_external_data=False)
    return {"ir_version": int(graph.ir_version),
            "opset": max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")),
            "fp32_bytes": fp32.stat().st_size, "int8_bytes": int8.stat().st_size if int8 else None}


def write_register_body(result: ExportResult, model_dir: Path, name: str | None, version: str,
                        reference: ReferenceEmbeddings) -> None:
    """``ml-commons.json``: the register body (name, version, hash, size, model_config) plus parity and variant."""
    package = result.packaged_variant
    register = {
        "name": name or model_dir.resolve().parent.name or "mros-model",
        "version": version,
        "description": f"mros graded-relevance encoder ({package} ONNX, {reference.dimension}-d, "
                       f"{reference.pooling} pooling)",
        "function_name": "TEXT_EMBEDDING",
        "model_format": "ONNX",
        "model_content_hash_value": result.sha256,
        "model_content_size_in_bytes": result.size_bytes,
        "model_config": result.model_config,
        "parity": result.parity,
        "variant": package,
        "client_variant": result.client_variant,
    }
    write_text(result.out_dir / "ml-commons.json", json.dumps(register, indent=2, sort_keys=True))


def export_for_ml_commons(
    model_dir: Path | str,
    out_dir: Path | str,
    quantize: bool = True,
    package: str = "int8",
    opset: int = DEFAULT_OPSET,
    max_length: int | None = None,
    parity_texts: list[str] | None = None,
    min_fp32_cosine: float = 0.9999,
    min_int8_cosine: float = 0.99,
    name: str | None = None,
    version: str = "1.0.0",
    fuse: bool = True,
    client_variant: str = "openvino-int8",
    calibration_texts: list[str] | None = None,
) -> ExportResult:
    """Export ``model_dir`` (a sentence-transformers directory) and package it for ML Commons.

    ``fuse`` fuses attention/LayerNorm/GELU into ONNX Runtime kernels before int8 quantization
    (faster on CPU; the fp32 graph is never fused). ``client_variant``: the variant client mode serves
    (``openvino-int8``, built from ``calibration_texts`` (catalog titles; the parity texts when None) where
    OpenVINO and NNCF are installed, else the ML Commons variant with a note; or ``int8``/``fp32``).
    Raises :class:`ExportParityError` if embeddings drift from a freshly loaded PyTorch model.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    package = check_export_arguments(model_dir, package, quantize)
    if client_variant not in CLIENT_VARIANTS:
        raise MrosError(f"unknown client variant {client_variant!r}", f"use one of {', '.join(CLIENT_VARIANTS)}")
    reference = reference_embeddings(model_dir, max_length, parity_texts)
    fp32, parity = export_fp32(model_dir, out_dir, opset, reference, min_fp32_cosine)
    int8 = export_int8(fp32, out_dir, reference, fuse, min_int8_cosine, parity) if quantize else None
    chosen = int8 if package == "int8" and int8 is not None else fp32
    notes: list[str] = []
    openvino_model = None
    if client_variant == "openvino-int8":
        missing = openvino_export_missing()
        if missing is None and quantize:
            openvino_model = export_openvino_int8(fp32, out_dir, reference, calibration_texts or reference.texts,
                                                  min_int8_cosine, parity)
            if not calibration_texts:
                notes.append("openvino-int8 was calibrated on the parity texts only: give catalog titles "
                             "(mros export --calibration CATALOG) for activation ranges of real titles")
        else:
            client_variant = package
            notes.append(f"client mode serves {package}: the faster openvino-int8 variant was not built ("
                         f"{missing or 'quantization is off'})")
    elif client_variant == "int8" and int8 is None:
        client_variant = "fp32"
    zip_path = out_dir / "ml-commons.zip"
    write_ml_commons_zip(chosen, zip_path)
    result = ExportResult(
        out_dir=out_dir, fp32_onnx=fp32, int8_onnx=int8, zip_path=zip_path, sha256=file_sha256(zip_path),
        size_bytes=zip_path.stat().st_size, model_config=ml_commons_model_config(reference), packaged_variant=package,
        parity={**parity, **graph_versions(chosen, fp32, int8)}, client_variant=client_variant,
        openvino_model=openvino_model, notes=notes,
    )
    write_register_body(result, model_dir, name, version, reference)
    return result
