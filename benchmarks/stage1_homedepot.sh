#!/usr/bin/env bash
# Stage 1 on the shared Home Depot data with the default config, then the export benchmark.
# Results: RUN/metrics.md, RUN/metrics.json, docs/benchmarks/export.json (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/bench-stage1}"
DATA="${MROS_DATA:-../shared/data/homedepot}"
/usr/bin/time -v mros --no-progress train --data "$DATA" --out "$RUN" 2>&1 | tee "$RUN.log"
python benchmarks/export_speed.py --run "$RUN" --catalog "$DATA/products.csv" --out docs/benchmarks/export.json
