"""``mros export``: ONNX (fp32 + int8) and the ML Commons package of a trained model."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._choices import ClientVariant, Package
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._library_log import library_output_to, run_log_path
from mr_opensearch.cli._output import emit_json, info, key_values, result, state
from mr_opensearch.core.errors import MrosError


def register(app: typer.Typer) -> None:
    app.command(name="export")(export)


@handle_errors
def export(
    run: Path | None = typer.Option(None, "--run", "-r", help="Run directory: exports RUN/model into RUN/onnx."),
    model: Path | None = typer.Option(None, "--model", help="A sentence-transformers model directory."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default RUN/onnx)."),
    package: Package = typer.Option(Package.int8, "--package", help="Variant zipped for ML Commons."),
    no_quantize: bool = typer.Option(False, "--no-quantize", help="Skip the int8 variant."),
    opset: int = typer.Option(17, "--opset", min=11, max=19, help="ONNX opset (ML Commons' runtime needs <= 19)."),
    max_length: int | None = typer.Option(None, "--max-length", help="Tokenizer truncation (default: the model's)."),
    no_fuse: bool = typer.Option(False, "--no-fuse", help="Quantize the plain ONNX graph (no ONNX Runtime kernel fusion)."),
    client_variant: ClientVariant = typer.Option(
        ClientVariant.openvino_int8, "--client-variant",
        help="Variant client mode serves: openvino-int8 (static int8 for OpenVINO, needs the openvino extra; "
             "else the ML Commons variant), int8 or fp32."),
    calibration: Path | None = typer.Option(
        None, "--calibration", help="Catalog whose titles calibrate openvino-int8 (default: the data folder's "
                                    "products.csv when there is one)."),
) -> None:
    """Export token-embedding ONNX (IR <= 9, opset <= 19), quantize to int8, check parity, package for ML Commons."""
    from mr_opensearch.core.safe_write import check_output_dir
    from trainer.export import export_for_ml_commons

    if run is None and model is None:
        raise MrosError("nothing to export", "pass --run RUN or --model DIR")
    if run is not None and model is not None:
        raise MrosError("--run and --model are alternatives: --run exports RUN/model into RUN/onnx",
                        "pass --run RUN alone, or --model DIR with --out DIR", exit_code=2)
    if run is not None and not (run / "model").is_dir():
        raise MrosError(f"{run} holds no trained model ({run / 'model'} is missing)",
                        "pass the --out directory of a finished `mros train`, or --model DIR --out DIR")
    model_dir = model or (run / "model")  # type: ignore[operator]
    out_dir = out or ((run / "onnx") if run else None)
    if out_dir is None:
        raise MrosError("no output directory", "pass --out DIR")
    check_output_dir(out_dir)
    titles = calibration_titles(calibration) if client_variant is ClientVariant.openvino_int8 else None
    info(f"exporting {model_dir} -> {out_dir}")
    with library_output_to(run_log_path(run or out_dir), state.debug):
        exported = export_for_ml_commons(model_dir, out_dir, quantize=not no_quantize, package=package.value,
                                         opset=opset, max_length=max_length, fuse=not no_fuse,
                                         client_variant=client_variant.value, calibration_texts=titles)
    summary = exported.to_json()
    if state.json:
        emit_json(summary)
    elif state.quiet:
        key_values(exported.zip_path)
    else:
        result(f"ML Commons package: {exported.zip_path} ({exported.size_bytes} bytes, sha256 {exported.sha256})")
        for key, value in exported.parity.items():
            result(f"  {key}: {value}")
        result(f"client mode serves: {exported.client_variant}")
    for note in exported.notes:
        info(f"note: {note}")


def calibration_titles(catalog: Path | None) -> list[str] | None:
    """Titles of ``catalog``, else of the data folder's ``products.csv`` when it exists (None: neither)."""
    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.core.paths import data_dir

    if catalog is None:
        default = data_dir() / "products.csv"
        if not default.is_file():
            return None
        catalog = default
    return list(read_catalog(catalog).titles)
