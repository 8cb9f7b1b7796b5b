"""The model a deploy serves, read from a run directory and kept under ``$MROS_HOME/models/<sha>``.

A run directory written by ``mros train`` holds what serving needs::

    RUN/onnx/ml-commons.json     the ML Commons register body (model_config, SHA-256 of the zip, variant)
    RUN/onnx/ml-commons.zip      model.onnx + tokenizer.json, as ML Commons expects (engine mode)
    RUN/onnx/<variant>/model.onnx, tokenizer.json   the same model, for embedding in mros (client mode)
    RUN/boundaries.json          the learned grade boundaries (cosines)

A run without ``boundaries.json`` still deploys (with a warning): its hits get no grade badges,
``mros search --min-grade`` refuses on its index, and hybrid search leaves the dense leg unbounded
(``lower_bound_mode`` none). A ``boundaries.json`` that exists but is broken (not JSON, missing or
non-numeric values, NaN/infinite, outside [-1, 1], partial above exact) refuses the deploy.
:func:`open_encoder` loads the ONNX model and embeds one probe text before anything is written,
so a corrupted or truncated model, or one whose output size is not ``embedding_dimension``, is
refused before the cluster is touched.

Client mode serves the package's ``client_variant`` (:mod:`mr_opensearch.core.encoder_package`: the
OpenVINO int8 variant where OpenVINO is installed, else the ML Commons ONNX), see :func:`for_client`. It
copies that variant's model files, ``tokenizer.json``, ``ml-commons.json`` and ``boundaries.json`` into
``$MROS_HOME/models/<key>/`` (written to a temporary folder, then renamed; ``<key>`` is the package's
SHA-256, followed by the variant when it is not the ML Commons one), so ``mros search`` and ``mros eval
--alias`` embed queries with exactly the deployed model and variant without the run directory.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mr_opensearch.core.encoder_package import (
    OPENVINO_INT8,
    model_file_of,
    model_files,
    model_sha256,
    open_model_encoder,
    variant_of_file,
)
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import file_sha256, sha256_of_chunks
from mr_opensearch.core.paths import user_dir
from mr_opensearch.search.manifest import Boundaries, Manifest

SERVED_FILES = ("tokenizer.json", "ml-commons.json")
"""Beside the model's own files (``model.onnx``, or an OpenVINO IR's ``model.xml`` and ``model.bin``)."""


@dataclass
class ServedModel:
    """What a deploy needs from a run: files, hashes and the model's settings."""

    run_dir: Path | None
    onnx: Path
    tokenizer: Path
    meta: dict[str, Any]
    zip_path: Path | None
    boundaries: Boundaries | None
    variant: str = "int8"
    """The package variant ``onnx`` is (int8, fp32, openvino-int8): the one whose vectors an index holds."""
    packaged_onnx: Path | None = None
    """The ONNX file of the ML Commons package (``ml-commons.zip``), when ``onnx`` is another variant."""

    @property
    def sha256(self) -> str:
        return str(self.meta["model_content_hash_value"])

    @property
    def model_config(self) -> dict[str, Any]:
        return dict(self.meta.get("model_config") or {})

    @property
    def dimension(self) -> int:
        return int(self.model_config["embedding_dimension"])

    @property
    def pooling_mode(self) -> str:
        return str(self.model_config.get("pooling_mode", "MEAN")).upper()

    @property
    def normalize_result(self) -> bool:
        return bool(self.model_config.get("normalize_result", True))

    @property
    def space_type(self) -> str:
        return "cosinesimil" if self.normalize_result else "innerproduct"

    @property
    def served_dir(self) -> Path:
        return self.onnx.parent

    @property
    def packaged_variant(self) -> str:
        """The variant ML Commons registers (``ml-commons.json``'s ``variant``)."""
        recorded = str(self.meta.get("variant") or "int8")
        return str(self.meta.get("package_variant") or self.variant) if recorded == "." else recorded

    @property
    def served_key(self) -> str:
        """The name of this model and variant in index names and under ``$MROS_HOME/models``: the package
        SHA-256, followed by the variant when it is not the ML Commons one (other vectors, another index)."""
        return self.sha256 if self.variant == self.packaged_variant else f"{self.sha256}-{self.variant}"

    @functools.cached_property
    def onnx_sha256(self) -> str:
        """The SHA-256 of the model files this model embeds with (the files actually loaded)."""
        return model_sha256(self.onnx)


def _read_json(path: Path, what: str, hint: str) -> dict[str, Any]:
    if not path.exists():
        raise MrosError(f"{path} not found ({what})", hint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MrosError(f"{path}: not valid JSON ({exc})", hint) from None
    if not isinstance(data, dict):
        raise MrosError(f"{path}: expected a JSON object", hint)
    return data


def read_boundaries_file(path: Path) -> Boundaries:
    """``boundaries.json`` (``{"partial": cos, "exact": cos, ...}``), validated: finite, ordered, in [-1, 1]."""
    data = _read_json(path, "the learned grade boundaries", "retrain with `mros train` (it writes RUN/boundaries.json)")
    try:
        partial, exact = float(data["partial"]), float(data["exact"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MrosError(f"{path}: needs numeric 'partial' and 'exact' cosines ({exc})",
                        "regenerate it with `mros train`") from None
    for name, value in (("partial", partial), ("exact", exact)):
        if not math.isfinite(value):
            raise MrosError(f"{path}: the {name} boundary is {value}, not a finite cosine",
                            "regenerate it with `mros train` (or delete it to deploy without grade boundaries)")
    try:
        return Boundaries.from_cosines(partial, exact)
    except MrosError as exc:
        raise MrosError(f"{path}: {exc.message}", exc.hint) from None


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    config = meta.get("model_config")
    sha = meta.get("model_content_hash_value")
    if not isinstance(config, dict) or not isinstance(sha, str) or len(sha) != 64:
        raise MrosError(f"{path}: not an ML Commons register body (model_config, model_content_hash_value)",
                        "re-export the run with `mros export --run RUN`")
    try:
        dim = int(config["embedding_dimension"])
    except (KeyError, TypeError, ValueError):
        raise MrosError(f"{path}: model_config has no embedding_dimension", "re-export with `mros export`") from None
    if dim <= 0 or dim > 16000:
        raise MrosError(f"{path}: embedding_dimension {dim} is out of range (1..16000)", "re-export with `mros export`")


def load_run(run_dir: Path) -> ServedModel:
    """The served model of a trained run, every file checked before anything is sent to a cluster."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MrosError(f"run directory {run_dir} not found", "pass the --out folder of `mros train` or `mros run`")
    onnx_dir = run_dir / "onnx"
    meta_path = onnx_dir / "ml-commons.json"
    meta = _read_json(meta_path, "the exported model package",
                      f"export the run first: `mros export --run {run_dir}`")
    _check_meta(meta, meta_path)
    variant = str(meta.get("variant", "int8"))
    onnx = onnx_dir / variant / "model.onnx"
    tokenizer = onnx.parent / "tokenizer.json"
    for path in (onnx, tokenizer):
        if not path.exists():
            raise MrosError(f"{path} not found (part of the exported model)", f"re-export: `mros export --run {run_dir}`")
    zip_path = onnx_dir / "ml-commons.zip"
    boundaries_path = run_dir / "boundaries.json"
    boundaries = read_boundaries_file(boundaries_path) if boundaries_path.exists() else None
    return ServedModel(run_dir=run_dir, onnx=onnx, tokenizer=tokenizer, meta=meta,
                       zip_path=zip_path if zip_path.exists() else None, boundaries=boundaries, variant=variant)


def client_variant(model: ServedModel) -> tuple[str, str | None]:
    """The variant client mode serves for ``model`` and, when it is not the one the package asks for, why:
    ``ml-commons.json``'s ``client_variant`` where its files exist and its runtime is installed, else the
    ML Commons variant."""
    wanted = str(model.meta.get("client_variant") or model.variant)
    if wanted == model.variant or model.run_dir is None:
        return model.variant, None
    if model_file_of(model.run_dir / "onnx" / wanted) is None:
        return model.variant, f"{model.run_dir / 'onnx' / wanted} is missing: client mode embeds with {model.variant}"
    if wanted == OPENVINO_INT8:
        from mr_opensearch.core.openvino_encoder import openvino_available

        if not openvino_available():
            return model.variant, (f"the run's fastest client variant ({wanted}) needs OpenVINO "
                                   f"(pip install 'mros[openvino]'): client mode embeds with {model.variant}")
    return wanted, None


def for_client(model: ServedModel, variant: str) -> ServedModel:
    """``model`` embedding with another variant of its run's package (client mode); the ML Commons package
    it was read with stays what :func:`check_package` checks."""
    if variant == model.variant:
        return model
    if model.run_dir is None:
        raise MrosError(f"{model.served_dir} is a served copy of the {model.variant} variant, not {variant}",
                        "deploy from the run directory (--run RUN)")
    onnx = model_file_of(model.run_dir / "onnx" / variant)
    if onnx is None:
        raise MrosError(f"{model.run_dir / 'onnx'} holds no {variant} variant",
                        f"re-export: `mros export --run {model.run_dir}`")
    return dataclasses.replace(model, onnx=onnx, tokenizer=onnx.parent / "tokenizer.json", variant=variant,
                               packaged_onnx=model.packaged_onnx or model.onnx)


def check_package(model: ServedModel) -> None:
    """The files of an exported run agree with each other: ``ml-commons.json``'s hash is the zip's, and
    the zip's ``model.onnx`` is the file client mode embeds with. A run whose ``model.onnx`` was replaced
    after export would otherwise be indexed under the old model's hash. The deploy checks it once the
    model has been seen to run (:func:`open_encoder`), so a corrupt file is named as such first."""
    if model.zip_path is None:
        return
    hint = f"re-export the run so its files agree again: `mros export --run {model.run_dir}`"
    zip_sha = file_sha256(model.zip_path)
    if zip_sha != model.sha256:
        raise MrosError(f"{model.zip_path} has SHA-256 {zip_sha[:12]}…, but ml-commons.json records "
                        f"{model.sha256[:12]}…: the package changed after export", hint)
    with zipfile.ZipFile(model.zip_path) as package:
        try:
            with package.open("model.onnx") as member:
                packaged = sha256_of_chunks(iter(lambda: member.read(1 << 20), b""))
        except KeyError:
            raise MrosError(f"{model.zip_path} holds no model.onnx", hint) from None
    onnx = model.packaged_onnx or model.onnx
    if packaged != file_sha256(onnx):
        raise MrosError(f"{onnx} is not the model.onnx of {model.zip_path} (SHA-256 {file_sha256(onnx)[:12]}… "
                        f"against {packaged[:12]}…): the model was replaced after export", hint)


def check_model_identity(manifest: Manifest, onnx: Path, meta: dict[str, Any], where: str) -> None:
    """Refuse to embed for ``manifest``'s index with a model or variant other than the one it was built
    with: the variant against the manifest's ``encoder_variant``, then the loaded model files' SHA-256
    against its ``onnx_sha256`` (indices deployed before it was recorded: the model package hash of
    ``ml-commons.json`` against ``model_sha256``)."""
    hint = (f"embed with the model index {manifest.index} was deployed with (leave out --model/--run to use its "
            "served copy), or deploy this model to the alias first")
    variant = variant_of_file(onnx, meta)
    if manifest.encoder_variant and variant != manifest.encoder_variant:
        raise MrosError(f"the model in {where} is the {variant} variant, but index {manifest.index} holds vectors "
                        f"of the {manifest.encoder_variant} variant: queries and catalog must be embedded alike",
                        f"embed with the {manifest.encoder_variant} variant (leave out --model to use the index's "
                        "served copy, or pass --run RUN), or redeploy the alias with this variant")
    if manifest.onnx_sha256:
        loaded = model_sha256(onnx)
        if loaded != manifest.onnx_sha256:
            raise MrosError(f"the model in {where} ({onnx.name}, SHA-256 {loaded[:12]}…) is not the model index "
                            f"{manifest.index} was built with ({manifest.onnx_sha256[:12]}…)", hint)
    elif str(meta.get("model_content_hash_value")) != manifest.model_sha256:
        raise MrosError(f"the model in {where} (package {str(meta.get('model_content_hash_value'))[:12]}…) is not the "
                        f"model index {manifest.index} was built with ({manifest.model_sha256[:12]}…)", hint)


def open_encoder(model: ServedModel, threads: int | None = None, spinning: bool = True, streams: int = 1) -> Any:
    """The encoder of the model's variant (:func:`mr_opensearch.core.encoder_package.open_model_encoder`),
    checked by embedding one probe text: the graph loads and runs, and makes finite
    ``embedding_dimension``-d vectors. ``streams``: how many threads will embed at once."""
    import numpy as np

    where = model.run_dir or model.served_dir
    hint = f"re-export the run: `mros export --run {where}`"
    try:
        encoder = open_model_encoder(model.onnx, model.tokenizer, pooling=model.pooling_mode,
                                     normalize=model.normalize_result, threads=threads, streams=streams,
                                     spinning=spinning)
        encoder.variant = model.variant
        probe = encoder.encode(["mros model check"])
    except MrosError as exc:
        raise MrosError(exc.message, hint) from None
    except Exception as exc:  # onnxruntime fails at run time on a graph it loaded
        raise MrosError(f"{model.onnx} does not run ({exc.__class__.__name__}: {str(exc)[:200]})", hint) from None
    if probe.ndim != 2 or probe.shape[1] != model.dimension:
        raise MrosError(f"{model.onnx} makes {probe.shape[-1]}-d vectors, but its ml-commons.json says "
                        f"embedding_dimension {model.dimension}", hint)
    if not np.isfinite(probe).all():
        raise MrosError(f"{model.onnx} makes non-finite vectors (NaN or infinity)", hint)
    return encoder


def load_served_dir(directory: Path) -> ServedModel:
    """A served-model copy (``$MROS_HOME/models/<sha>``) or any folder with the same files."""
    directory = Path(directory)
    if (directory / "onnx" / "ml-commons.json").exists():
        return load_run(directory)
    meta = _read_json(directory / "ml-commons.json", "the served model's settings",
                      "redeploy with `mros deploy --run RUN`, or pass --run RUN")
    _check_meta(meta, directory / "ml-commons.json")
    onnx = model_file_of(directory) or directory / "model.onnx"
    for path in (*model_files(onnx), *(directory / name for name in SERVED_FILES)):
        if not path.exists():
            raise MrosError(f"{path} not found", "redeploy with `mros deploy --run RUN`, or pass --run RUN")
    boundaries = directory / "boundaries.json"
    return ServedModel(run_dir=None, onnx=onnx, tokenizer=directory / "tokenizer.json",
                       meta=meta, zip_path=None, variant=variant_of_file(onnx, meta),
                       boundaries=read_boundaries_file(boundaries) if boundaries.exists() else None)


def models_dir() -> Path:
    return user_dir() / "models"


def store_served_copy(model: ServedModel) -> Path:
    """Copy the served files of the model's variant to ``$MROS_HOME/models/<key>`` (:attr:`ServedModel.served_key`;
    idempotent; atomic rename)."""
    target = models_dir() / model.served_key
    copied = target / model.onnx.name
    if all((target / name).exists() for name in SERVED_FILES) and copied.exists() and \
            all(p.exists() for p in model_files(copied)) and model_sha256(copied) == model.onnx_sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model.sha256[:12]}-", dir=target.parent))
    try:
        for path in model_files(model.onnx):
            shutil.copyfile(path, tmp / path.name)
        shutil.copyfile(model.tokenizer, tmp / "tokenizer.json")
        (tmp / "ml-commons.json").write_text(json.dumps({**model.meta, "variant": ".", "package_variant": model.packaged_variant,
                                                         "encoder_variant": model.variant,
                                                         "onnx_sha256": model.onnx_sha256}, indent=2, sort_keys=True))
        if model.boundaries is not None:
            (tmp / "boundaries.json").write_text(json.dumps(model.boundaries.cosine, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
