"""Embed a catalog with Ray Data (an actor pool of mros encoders), write the vectors file, then deploy it.

    python docs/examples/ray_embed_catalog.py --run RUN --catalog products.csv --out vectors.parquet --actors 2
    mros deploy --run RUN --catalog products.csv --alias products --embedding client --vectors vectors.parquet

On one machine it starts a local Ray instance; ``--address auto`` (or ``ray://head:10001``) joins a running Ray
cluster instead, where each actor runs on whichever node has a free CPU (``--actors``: how many encoders; each
uses one core, onnxruntime with one thread). Every worker node needs mros installed (``pip install
"mros[ray]"``) and the run directory at the same path (a shared file system), or ship it with Ray's
``runtime_env={"working_dir": ...}``. Sizing: docs/live-catalog.md.

The encoders run :class:`mr_opensearch.Embedder`, the very model and code of a client-mode deploy, on the texts
the deploy embeds (:func:`mr_opensearch.catalog_texts`); the driver streams the results into one
:class:`mr_opensearch.VectorsWriter` file that records the model's hashes, which ``mros deploy --vectors``
checks.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class EncodeBatch:
    """A Ray Data actor: one :class:`mr_opensearch.Embedder` per actor, loaded once, reused for every batch."""

    def __init__(self, run: str) -> None:
        from mr_opensearch import Embedder

        self.embedder = Embedder(run, threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["embedding_text"]])
        return {"product_id": batch["product_id"], "embedding_text": batch["embedding_text"], "vector": vectors}


@dataclass
class RayEmbedResult:
    products: int
    actors: int
    seconds: float
    """Wall time of the embedding (Ray started, actors loaded, all batches embedded and written)."""

    @property
    def titles_per_second(self) -> float:
        return self.products / self.seconds


def embed_with_ray(run: Path | str, catalog: Path | str, out: Path | str, *, actors: int = 2, batch_size: int = 256,
                   address: str | None = None) -> RayEmbedResult:
    """Embed ``catalog`` with ``run``'s model on ``actors`` Ray actors into the vectors file ``out``."""
    import ray

    from mr_opensearch import Embedder, VectorsWriter, catalog_texts

    ids, texts = catalog_texts(catalog)
    stamp = Embedder(run, threads=1).stamp  # the model the actors load: recorded in the file
    started = time.perf_counter()
    if address is None:
        ray.init(num_cpus=max(actors, 1), include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    else:
        ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
    try:
        dataset = ray.data.from_items([{"product_id": i, "embedding_text": t} for i, t in zip(ids, texts, strict=True)])
        embedded = dataset.map_batches(EncodeBatch, fn_constructor_args=(str(run),), batch_size=batch_size,
                                       concurrency=actors, num_cpus=1, batch_format="numpy")
        with VectorsWriter(out, stamp) as writer:
            for batch in embedded.iter_batches(batch_format="numpy", batch_size=batch_size):
                writer.write([str(p) for p in batch["product_id"]], [str(t) for t in batch["embedding_text"]],
                             np.asarray(batch["vector"], dtype=np.float32))
    finally:
        if address is None:
            ray.shutdown()
    return RayEmbedResult(products=len(ids), actors=actors, seconds=time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (holds onnx/)")
    parser.add_argument("--catalog", required=True, help="catalog CSV/JSONL")
    parser.add_argument("--out", required=True, help="vectors file to write (Parquet)")
    parser.add_argument("--actors", type=int, default=2, help="encoder actors (one CPU each)")
    parser.add_argument("--batch-size", type=int, default=256, help="titles per batch")
    parser.add_argument("--address", default=None, help="a running Ray cluster (auto, ray://host:10001)")
    args = parser.parse_args()
    done = embed_with_ray(args.run, args.catalog, args.out, actors=args.actors, batch_size=args.batch_size,
                          address=args.address)
    print(f"wrote {args.out}: {done.products} vectors with {done.actors} actors in {done.seconds:.1f} s "
          f"({done.titles_per_second:.0f} titles/s)")


if __name__ == "__main__":
    main()
