"""``mros embed``: a catalog's vectors into a Parquet file, for ``mros deploy --vectors``."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._output import emit_json, info, key_values, result, show_progress, state


def register(app: typer.Typer) -> None:
    app.command(name="embed")(embed)


@handle_errors
def embed(
    run: Path = typer.Option(..., "--run", help="Run directory of `mros train` / `mros run` (holds onnx/)."),
    catalog: Path = typer.Option(..., "--catalog", help="Catalog CSV/JSONL, as `mros deploy --catalog` reads it."),
    out: Path = typer.Option(..., "--out", help="The vectors file to write (Parquet: product_id, text_sha256, "
                             "vector; the model's hashes in its metadata)."),
    text_field: list[str] = typer.Option([], "--text-field", help="Extra catalog column the deploy will index "
                                         "(repeatable; as `mros deploy --text-field`)."),
    encode_workers: int | None = typer.Option(None, "--encode-workers", min=1, max=64, help="Batches embedded at "
                                              "once, one onnxruntime thread each (default: one per CPU core, at "
                                              "most 8)."),
    force: bool = typer.Option(False, "--force", help="Replace --out when it exists."),
) -> None:
    """Embed a catalog with a run's model into a vectors file, exactly as a client-mode deploy would (same
    texts, same batches); `mros deploy --vectors FILE` then writes these vectors instead of embedding."""
    from tqdm import tqdm

    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.core.safe_write import check_output_file
    from mr_opensearch.deploy.deploy import DeployOptions
    from mr_opensearch.deploy.embed_catalog import embed_catalog
    from mr_opensearch.search.served_model import load_run

    check_output_file(out, inputs=[catalog], force=force)
    model = load_run(run)
    products = read_catalog(catalog, text_fields=tuple(text_field))
    options = DeployOptions(alias="mros-embed", text_fields=tuple(text_field), encode_workers=encode_workers)
    info(f"embedding {len(products)} products of {catalog} with {run} ({model.dimension}-d)")
    with tqdm(total=len(products), desc="embedding", unit="title", disable=not show_progress()) as bar:
        done = embed_catalog(model, products, out, options=options, progress=bar.update)
    if state.json:
        emit_json(done.to_json())
    elif state.quiet:
        key_values(done.out)
    else:
        result(f"wrote {done.out}: {done.products} vectors ({done.dimension}-d) in {done.seconds:.1f} s "
               f"({done.titles_per_second:.0f} titles/s), model {done.model_sha256[:12]}")
