"""`make bench`: runs every benchmark module in turn (or those named on the command line)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def write_results(name: str, metrics: dict[str, float]) -> Path:
    """Writes one results file: a JSON object of numbers, keys sorted."""
    RESULTS.mkdir(exist_ok=True)
    bad = {k: v for k, v in metrics.items() if not isinstance(v, int | float)}
    if bad:
        raise TypeError(f"benchmark {name}: non-numeric metrics {bad}")
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def print_table(title: str, rows: list[tuple[str, float, str]]) -> None:
    """rows: (metric, value, target or note)."""
    print(f"\n{title}")
    print(f"  {'metric':34s} {'value':>14s}  target")
    for metric, value, target in rows:
        shown = f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"
        print(f"  {metric:34s} {shown:>14s}  {target}")


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removesuffix("_bench") for p in HERE.glob("*_bench.py"))
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}_bench")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
