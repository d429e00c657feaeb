"""What a household-day costs on the chain: the demo's day (24 households, seed 1), every
transaction of it read from the chain's blocks and receipts and classified
(energo_community/economics.py), in both market modes and at settlement cadences of 15,
30 and 60 minutes. See docs/economics.md.

Results (``results/economics.json``): gas per household-day for each run
(``gas_per_household_day_<mode>[_<N>min]``, the 15-minute runs without the suffix), by
category (``..._readings`` ...), its QTUM cost at 40 satoshi per gas, and the day's
traded volume and self-sufficiency, so a cheaper cadence can be seen not to change the
day. Each run is a whole demo day (about 95 s on a quiet 2-core machine).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.run import print_table, write_results
from energo_community.cadences import format_table, summary
from energo_community.options import CommunityOptions
from energo_community.run import run_demo

HOUSEHOLDS = 24
SEED = 1
#: (mode, settlement minutes): the issue's three keys, and the cadences between.
RUNS = (("continuous", 15), ("auction", 15), ("auction", 30), ("auction", 60), ("continuous", 60))
TARGETS = {
    "gas_per_household_day_continuous": "bar <= 2.0M, moonshot <= 1.0M",
    "gas_per_household_day_auction": "bar <= 2.0M, moonshot <= 1.0M",
    "gas_per_household_day_auction_60min": "bar <= 700k, moonshot <= 350k",
}


def key(mode: str, minutes: int) -> str:
    return f"{mode}" if minutes == 15 else f"{mode}_{minutes}min"


def metrics_of(rows: list[dict]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for row in rows:
        name = key(row["mode"], row["settlement_minutes"])
        metrics[f"gas_per_household_day_{name}"] = row["gas_per_household_day"]
        for category, gas in row["gas_per_household_day_by_category"].items():
            if category not in ("deployment", "other") or gas:
                metrics[f"gas_per_household_day_{name}_{category}"] = gas
        metrics[f"qtum_per_household_day_{name}"] = row["qtum_per_household_day"]
        metrics[f"reading_txs_{name}"] = row["reading_txs"]
        metrics[f"volume_kwh_{name}"] = row["volume_wh"] / 1000
        metrics[f"self_sufficiency_{name}"] = row["self_sufficiency"]
    return metrics


def measure(runs: tuple[tuple[str, int], ...] = RUNS, households: int = HOUSEHOLDS) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="energo-economics-") as tmp:
        for mode, minutes in runs:
            options = CommunityOptions(households=households, mode=mode, seed=SEED, settlement_minutes=minutes,
                                       out=Path(tmp) / key(mode, minutes))
            print(f"economics: {mode}, settled every {minutes} min ...", file=sys.stderr, flush=True)
            result = run_demo(options, progress=False)
            if not result.ok:
                failed = [c.name for c in result.checks if not c.ok]
                raise RuntimeError(f"{mode} at {minutes} min: invariants failed: {failed}")
            rows.append(summary(result.report))
    return rows


def main() -> dict[str, float]:
    rows = measure()
    metrics = metrics_of(rows)
    write_results("economics", metrics)
    print("\neconomics: the demo's day (24 households, seed 1) at each mode and cadence")
    print(format_table(rows))
    print_table("economics (gas per household-day)",
                [(k, v, TARGETS.get(k, "")) for k, v in metrics.items() if k in TARGETS])
    return metrics


if __name__ == "__main__":
    main()
