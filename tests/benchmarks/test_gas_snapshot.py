"""The gas snapshot: the committed benchmarks/results/ledger.json and market.json are the
baseline, and a quick subset of their figures is measured again here on a real anvil by the
benchmarks' own functions (everything but the ledger's batch of 100, the book at depth 1,000
and the 1,000-order call auction, which `make bench` measures).

Gas is deterministic (fixed calldata, fixed chain clock for signed readings), so this is a
check, not a timing: a figure above the baseline fails; one below it is printed, and the
baseline can then be lowered. To accept new figures, run `make bench` and commit
benchmarks/results/*.json with the reason (see benchmarks/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import ledger_bench, market_bench
from energo_deploy.localchain import Anvil

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

# Whole-transaction gas, per operation (and per reading or per extra maker).
LEDGER = ["reading_batch_1", "reading_batch_10", "reading_batch_50", "tx_single_reading",
          "deposit_tsl", "withdraw_tsl", "watt_transfer"]
MARKET = ["place_new_level_first_order", "place_new_level", "place_existing_level",
          "place_new_level_sell", "place_existing_level_sell", "cancel", "cancel_last_at_level",
          "take_1_maker", "take_10_makers", "take_100_makers", "per_extra_maker",
          "take_1_maker_first_trade", "take_10_makers_first_trade", "take_100_makers_first_trade",
          "per_extra_maker_first_trade", "place_existing_level_relayed"]
# Where that gas goes (battery hooks, market contract only): shown when it moves, not checked,
# so work moved between the contracts at the same total does not fail.
MARKET_SHARES = ["place_new_level_battery", "place_existing_level_battery", "cancel_battery",
                 "take_1_maker_battery", "take_10_makers_battery", "take_100_makers_battery",
                 "take_1_maker_first_trade_battery", "take_10_makers_first_trade_battery",
                 "take_100_makers_first_trade_battery", "per_extra_maker_market_only"]


def compare(name: str, measured: dict[str, float], checked: list[str], shares: list[str], capsys) -> None:
    baseline = json.loads((RESULTS / f"{name}.json").read_text())
    assert set(checked + shares) <= set(measured), f"not measured: {sorted(set(checked + shares) - set(measured))}"
    assert set(checked + shares) <= set(baseline), \
        f"not in benchmarks/results/{name}.json: {sorted(set(checked + shares) - set(baseline))}"
    raised, notes = [], []
    for key in checked + shares:
        old, new = baseline[key], measured[key]
        if new > old and key in checked:
            raised.append(f"{key}: {old:,} -> {new:,} (+{new - old:,.1f})")
        elif new != old:
            notes.append(f"{name}.{key}: {old:,} -> {new:,} ({new - old:+,.1f})"
                         + ("" if key in checked else ", share, not checked"))
    if notes:
        with capsys.disabled():
            print(f"\ngas snapshot {name}: below or beside the baseline (lower it with `make bench`):")
            for note in notes:
                print(f"  {note}")
    assert not raised, (
        f"gas above benchmarks/results/{name}.json: " + "; ".join(raised)
        + ". If intended, run `make bench` and commit benchmarks/results/*.json with the reason.")


def test_ledger_gas_is_not_above_the_snapshot(capsys):
    # 50 meters: the full benchmark's run up to its batch of 50, then the single reading,
    # deposit, withdrawal and transfer, the same transactions at the same chain times.
    measured = ledger_bench.measure(meters=50)
    compare("ledger", measured, LEDGER, [], capsys)


def test_market_gas_is_not_above_the_snapshot(capsys):
    with Anvil(accounts=market_bench.CONTINUOUS_USERS + market_bench.RELAYED_BATCH + 5) as node:
        bench = market_bench.funded_bench(node.web3())
        market = market_bench.continuous_market(bench)
        measured = market_bench.order_metrics(bench, market)
        measured.update(market_bench.taker_metrics(bench, market))
        measured.update(market_bench.relayed_metrics(bench))
    compare("market", measured, MARKET, MARKET_SHARES, capsys)
