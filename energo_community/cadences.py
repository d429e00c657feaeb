"""The same day at several settlement cadences (``--compare-cadences``): one demo run per
cadence, each in its own directory, and a table of what the chain cost and what the
community got (volume, self-sufficiency, savings)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from energo.constants import TSL
from energo_community.economics import CATEGORIES
from energo_community.options import CommunityOptions
from energo_community.run import run_demo

CADENCES = (15, 30, 60)


def summary(report: dict) -> dict:
    """One run's row: chain cost per household-day by category, and the day's outcome."""
    cost = report["chain_cost"]
    c = report["community"]
    phd = cost["per_household_day"]
    household_days = cost["household_days"]
    return {
        "mode": report["options"]["mode"],
        "settlement_minutes": cost["settlement_minutes"],
        "reading_txs": c["reading_txs"],
        "readings": c["readings"],
        "day_transactions": cost["scopes"]["day"]["transactions"],
        "gas_per_household_day": phd["gas"],
        "gas_per_household_day_by_category": {k: phd["categories"][k] for k in CATEGORIES},
        "qtum_per_household_day": phd["qtum"],
        "volume_wh": c["volume_wh"],
        "trades": c["trades"],
        "self_sufficiency": c["self_sufficiency"],
        "savings_tsl_per_household_day": c["savings_tsl"] // household_days,
        "ok": all(check["ok"] for check in report["invariants"]),
    }


def format_table(rows: list[dict]) -> str:
    lines = [f"{'mode':10} {'settle':>6} {'reading txs':>11} {'readings':>10} {'orders':>9} {'clearing':>9} "
             f"{'operator':>9} {'gas/hh-day':>11} {'QTUM/hh-day':>11} {'volume kWh':>10} {'self-suff':>9} "
             f"{'savings/hh-day':>14}"]
    for r in rows:
        by = r["gas_per_household_day_by_category"]
        lines.append(
            f"{r['mode']:10} {r['settlement_minutes']:>4} m {r['reading_txs']:>11,} {by['readings']:>10,} "
            f"{by['orders']:>9,} {by['clearing']:>9,} {by['operator']:>9,} {r['gas_per_household_day']:>11,} "
            f"{r['qtum_per_household_day']:>11.4f} {Decimal(r['volume_wh']) / 1000:>10.1f} "
            f"{r['self_sufficiency'] * 100:>8.1f}% {Decimal(r['savings_tsl_per_household_day']) / TSL:>10.3f} TSL")
    return "\n".join(lines)


def compare(options: CommunityOptions, cadences: tuple[int, ...] = CADENCES, progress: bool = False,
            say: Callable[[str], None] = lambda _line: None) -> list[dict]:
    """Runs the day once per cadence (in ``options.out / f"settle-{m}min"``); writes
    ``options.out / "cadences.json"`` and returns the rows."""
    rows = []
    for minutes in cadences:
        run = replace(options, settlement_minutes=minutes, out=options.out / f"settle-{minutes}min")
        say(f"--- settlement every {minutes} min ({run.mode}), in {run.out}")
        result = run_demo(run, progress=progress, say=say)
        rows.append(summary(result.report))
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "cadences.json").write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    return rows
