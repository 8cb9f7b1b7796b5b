#!/usr/bin/env bash
# Stage 1 alone on the shared Home Depot data (default Stage 1 config), evaluated against BM25, the
# base model and the MNRL recipe, then the export benchmark.
# Results: RUN/metrics.md, RUN/metrics.json, docs/benchmarks/export.json (see docs/benchmarks.md).
# The whole default `mros train` (Stage 1 + Stage 2) is timed with:
#   /usr/bin/time -v mros --no-progress train --data ../shared/data/homedepot --out RUN
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/bench-stage1}"
DATA="${MROS_DATA:-../shared/data/homedepot}"
mkdir -p "$RUN"
CONFIG="$RUN.stage1.yaml"
printf 'stage2: {enabled: false}\neval: {baselines: [bm25, base, mnrl]}\n' > "$CONFIG"
/usr/bin/time -v mros --no-progress train --config "$CONFIG" --data "$DATA" --out "$RUN" 2>&1 | tee "$RUN.log"
python benchmarks/export_speed.py --run "$RUN" --catalog "$DATA/products.csv" --out docs/benchmarks/export.json
