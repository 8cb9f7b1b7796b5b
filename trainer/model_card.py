"""The run's model card (``RUN/README.md``): data, config, metrics, export, how to use it."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.config import TrainConfig
from trainer.evaluation.run_step import metrics_markdown


def write_model_card(run_dir: Path, config: TrainConfig, metrics: dict, split_counts: dict) -> Path:
    env = json.loads((run_dir / "environment.json").read_text()) if (run_dir / "environment.json").exists() else {}
    export = metrics.get("export") or {}
    lines = [
        f"# mros model `{run_dir.name}`",
        "",
        "A Siamese two-tower text encoder (shared weights, mean pooling, L2-normalised) fine-tuned with a",
        "label-aware supervised contrastive loss on graded (exact / partial / irrelevant) judgments — Stage 1",
        "of *Mine and Refine* (arXiv:2602.17654), trained with [mros](https://pypi.org/project/mros/).",
        "",
        "## Data",
        f"- catalog: `{config.data.catalog_path()}`; judgments: `{config.data.judgments_path()}`",
        f"- grade mapping: exact >= {config.data.grade_mapping.exact}, partial >= {config.data.grade_mapping.partial}",
        f"- query-level splits (seed {config.data.split.seed}):",
    ]
    for name, c in split_counts.items():
        lines.append(f"  - {name}: {c['queries']} queries, {c['pairs']} pairs, grades {c['grades']}")
    lines += ["", "## Training", f"- base model: `{config.model.base}`"]
    for key, value in (metrics.get("training") or {}).items():
        lines.append(f"- {key}: {value}")
    lines += ["", "## Metrics", "", metrics_markdown(metrics.get("splits", {})), ""]
    if (run_dir / "plots").exists():
        for png in sorted((run_dir / "plots").glob("*.png")):
            lines.append(f"![{png.stem}](plots/{png.name})")
        lines.append("")
    if export:
        lines += ["## Export", "", "`onnx/ml-commons.zip` is ready for OpenSearch ML Commons (see `onnx/ml-commons.json`).", ""]
        for key, value in export.items():
            lines.append(f"- {key}: {value}")
        lines.append("")
    lines += ["## Usage", "", "```python", "from sentence_transformers import SentenceTransformer",
              f"model = SentenceTransformer('{run_dir / 'model'}')", "emb = model.encode(['cordless drill'])", "```", "",
              "## Configuration", "", "```yaml", config.dump_yaml().rstrip(), "```", "",
              "## Environment", "", "```json", json.dumps(env, indent=2), "```", ""]
    path = run_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
