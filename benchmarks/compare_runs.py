"""Compare the figures of two run directories (same config and seeds, e.g. before and after a refactor).

Every number in ``metrics.json``, ``boundaries.json``, ``stage2.json``, ``labeler/metrics.json`` and
``engine/*.json`` of the two runs is compared leaf by leaf; timings, paths, dates and sizes are left out
(they differ between any two runs). Prints each differing leaf and a count; exits 1 when a figure
differs.

    python benchmarks/compare_runs.py runs/quick-old runs/quick-new
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

FILES = ("metrics.json", "boundaries.json", "stage2.json", "labeler/metrics.json")
SKIP = re.compile(r"(seconds|second|_s$|time|runtime|per_second|wall|path|dir|date|started|finished|elapsed|"
                  r"bytes|rss|latency|took|ms|qps|host|python|version|index$|model_id|run$|index_name|minutes)",
                  re.IGNORECASE)


def leaves(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(leaves(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def figures(run: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    names = list(FILES) + sorted(str(p.relative_to(run)) for p in (run / "engine").glob("*.json"))
    for name in names:
        path = run / name
        if path.exists():
            for key, value in leaves(json.loads(path.read_text())).items():
                if isinstance(value, bool | int | float) and not any(SKIP.search(part) for part in key.split(".")):
                    found[f"{name}:{key}"] = value
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    before, after = figures(args.before), figures(args.after)
    differ = [k for k in sorted(set(before) & set(after)) if before[k] != after[k]]
    only = sorted(set(before) ^ set(after))
    for key in differ:
        print(f"differs  {key}: {before[key]} -> {after[key]}")
    for key in only:
        print(f"only in {'before' if key in before else 'after'}  {key}")
    print(f"{len(set(before) & set(after))} figures compared, {len(differ)} differ, {len(only)} in one run only")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
