"""Stage 2 ablation on the shared data: what mining, the circle loss, spelling noise and synthetic
queries each add on top of one Stage 1 model.

Every variant continues from the *same* Stage 1 model (the `--stage1` run directory of `mros train`),
with the same Stage 2 step budget, and is evaluated like `mros train` evaluates (test split, whole
catalog). The variants are cumulative:

    stage1        the Stage 1 model itself (from the --stage1 run)
    +mining       Stage 2 on original + mined pairs (graded by the labeler), Stage 1 loss only
    +circle       ... with the multi-class circle loss (+ stage2.circle.supcon_weight x Stage 1 loss;
                  2.0 by default since session 5, 0.2 before: --set circle.supcon_weight=0.2)
    +spelling     ... plus spelling-noised query copies (off by default since session 5)
    +synthetic    ... plus synthetic queries for under-judged products, graded by the labeler

    python benchmarks/stage2_ablation.py --stage1 RUN1 --labeler LABELER --out runs/ablation \\
        --data ../shared/data/homedepot --max-steps 120 [--variants +mining,+circle,+spelling]
        [--set circle.supcon_weight=1.0] [--mining-from runs/ablation/mining]

Each variant is a run directory under --out that starts as a copy of the Stage 1 run's model,
evaluation caches and MNRL baseline (so baselines are not recomputed); export is off (the int8
export is measured on Stage 1, see docs/benchmarks.md). Mining is done once and reused. Results:
OUT/ablation.json (rows for `mros report`) and OUT/ablation.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

VARIANTS = {
    "+mining": {"circle": {"weight": 0.0, "supcon_weight": 1.0}, "spelling": {"enabled": False}},
    "+circle": {"spelling": {"enabled": False}},
    "+spelling": {"spelling": {"enabled": True}},
    "+synthetic": {"spelling": {"enabled": True}, "synthetic": {"enabled": True, "max_products": 1000, "max_steps": 150}},
}
COLUMNS = ["ndcg@10", "recall@100_partial+", "recall@100_exact", "auc_exact_vs_partial", "auc_partial_vs_irrelevant",
           "auc_exact_vs_irrelevant"]


def prepare(stage1_run: Path, variant_dir: Path, shared_mining: Path | None) -> None:
    """A run directory holding the Stage 1 model, its markers and evaluation caches."""
    variant_dir.mkdir(parents=True, exist_ok=True)
    if not (variant_dir / "stage1-model").exists():
        shutil.copytree(stage1_run / "model", variant_dir / "stage1-model")
    for name in ("eval", "baselines", "cache"):  # cache: the Stage 1 model's catalog vectors
        if (stage1_run / name).exists() and not (variant_dir / name).exists():
            shutil.copytree(stage1_run / name, variant_dir / name)
    (variant_dir / ".steps").mkdir(exist_ok=True)
    shutil.copy(stage1_run / ".steps" / "stage1", variant_dir / ".steps" / "stage1")
    for name in (".steps/mnrl", ".steps/baseline-mnrl", "training.json"):
        if (stage1_run / name).exists():
            shutil.copy(stage1_run / name, variant_dir / name)
    if shared_mining is not None:
        for name in ("mined.parquet", "mined.json", ".steps/mining"):
            if (shared_mining / name).exists():
                shutil.copy(shared_mining / name, variant_dir / name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage1", type=Path, required=True, help="run directory of a Stage-1-only `mros train`")
    parser.add_argument("--labeler", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--variants", default="+mining,+circle,+spelling")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a stage2 option for every variant, e.g. circle.supcon_weight=1.0 (repeatable)")
    parser.add_argument("--mining-from", type=Path, default=None,
                        help="a variant directory of an earlier ablation whose mining (same Stage 1, labeler) is reused")
    args = parser.parse_args()

    base_config = yaml.safe_load((args.stage1 / "config.yaml").read_text())
    rows = []
    stage1_metrics = json.loads((args.stage1 / "metrics.json").read_text())
    s1 = stage1_metrics["splits"]["test"]["stage1"]
    s1_bounds = (stage1_metrics.get("boundaries") or {}).get("stage1", {})
    rows.append({"variant": "stage1", **{c: s1.get(c) for c in COLUMNS},
                 "boundary_accuracy_test": s1_bounds.get("test_accuracy"), "stage2_minutes": 0.0})
    shared_mining = args.mining_from
    for variant in args.variants.split(","):
        run = args.out / variant.lstrip("+")
        prepare(args.stage1, run, shared_mining)
        config = json.loads(json.dumps(base_config))
        config["stage2"] = {**config.get("stage2", {}), "enabled": True, "labeler": str(args.labeler),
                            "max_steps": args.max_steps}
        for key, value in VARIANTS[variant].items():
            config["stage2"][key] = {**config["stage2"].get(key, {}), **value} if isinstance(value, dict) else value
        for assignment in args.set:
            path, _, raw = assignment.partition("=")
            *parents, leaf = path.split(".")
            node = config["stage2"]
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = yaml.safe_load(raw)
        config["export"] = {**config.get("export", {}), "enabled": False}
        (run / "ablation-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        start = time.time()
        cmd = [sys.executable, "-m", "mr_opensearch", "--no-progress", "train", "--config", str(run / "ablation-config.yaml"),
               "--data", str(args.data), "--out", str(run)]
        print("$", " ".join(cmd), flush=True)
        with open(run / "train.log", "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        minutes = (time.time() - start) / 60
        metrics = json.loads((run / "metrics.json").read_text())
        m = metrics["splits"]["test"]["stage2"]
        bounds = (metrics.get("boundaries") or {}).get("stage2", {})
        stage2 = json.loads((run / "stage2.json").read_text())
        rows.append({"variant": variant, **{c: m.get(c) for c in COLUMNS},
                     "boundary_accuracy_test": bounds.get("test_accuracy"),
                     "stage2_minutes": round(stage2.get("seconds", 0) / 60, 1), "wall_minutes": round(minutes, 1),
                     "train_pairs": stage2.get("train_pairs"), "steps": stage2.get("training", {}).get("steps")})
        shared_mining = run
        print(json.dumps(rows[-1]), flush=True)
        (args.out / "ablation.json").write_text(json.dumps(rows, indent=2))
    lines = ["| variant | " + " | ".join([*COLUMNS, "boundary acc. (test)", "Stage 2 min"]) + " |",
             "|---|" + "---|" * (len(COLUMNS) + 2)]
    for r in rows:
        cells = [f"{r[c]:.4f}" if isinstance(r.get(c), float) else "–" for c in [*COLUMNS, "boundary_accuracy_test"]]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + f" | {r.get('stage2_minutes', '–')} |")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
