"""The chart of the day (PNG): community flows, the battery's charge, and the prices."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from energo.constants import TSL  # noqa: E402
from energo_community.members import BATTERY_METER_ID  # noqa: E402
from energo_community.report import reading_rounds  # noqa: E402


def series(community) -> dict:
    """Per-interval figures from the chain's events (ReadingAccepted registers,
    StateOfChargeReported, Traded, RoundCleared)."""
    opts, log = community.options, community.chainlog
    start, step = opts.interval_start(0), opts.settlement_s
    hours = [(opts.interval_start(k) - start) / 3600 for k in range(opts.intervals + 1)]
    exported = [0] * (opts.intervals + 1)
    imported = [0] * (opts.intervals + 1)
    last: dict[int, tuple[int, int]] = {}
    for event in log.named("ReadingAccepted"):
        meter = event.args["meterId"]
        if meter == BATTERY_METER_ID:
            continue
        k = (event.args["timestamp"] - start) // step
        previous = last.get(meter, (0, 0))
        imported[k] += event.args["importWh"] - previous[0]
        exported[k] += event.args["exportWh"] - previous[1]
        last[meter] = (event.args["importWh"], event.args["exportWh"])
    soc: dict[int, tuple[int, int]] = {}
    for event in log.named("StateOfChargeReported"):
        k = bisect_right(community.interval_blocks, event.block) - 1
        soc[k] = (event.args["stateOfChargeWh"], event.args["supplyWh"])
    trades = defaultdict(list)
    read_by_block = reading_rounds(community)
    for event in log.named("Traded"):
        k = bisect_right(read_by_block, event.block) - 1
        trades[k].append((event.args["price"], event.args["amountWh"]))
    length = community.config.market.round_length_s
    rounds = [(e.args["roundId"] * length - start, e.args["price"]) for e in log.named("RoundCleared")
              if e.args["price"]]
    return {"hours": hours, "exported": exported, "imported": imported, "soc": soc, "trades": trades,
            "rounds": rounds, "utility": community.config.utility_price}


def draw(community, path: Path) -> Path:
    data = series(community)
    opts = community.options
    hours = data["hours"]
    width_h = opts.settlement_s / 3600
    to_kw = 1 / (1000 * width_h)  # Wh in one interval -> average kW
    fig, (flows, charge, prices) = plt.subplots(3, 1, figsize=(11, 9), sharex=True,
                                                gridspec_kw={"height_ratios": [3, 2, 2]})
    days = "day" if opts.days == 1 else f"{opts.days} days"
    title = (f"Energo community {days}: {opts.households} households, {opts.mode} market, seed {opts.seed} "
             "(all figures from the chain)")
    fig.suptitle(title, fontsize=12)

    # Flows of interval k happened during [T(k-1), T(k)): draw them there.
    mids = [h - width_h / 2 for h in hours[1:]]
    flows.bar(mids, [w * to_kw for w in data["exported"][1:]], width=width_h * 0.9, color="#f2a900",
              label="PV surplus exported into the battery")
    flows.bar(mids, [-w * to_kw for w in data["imported"][1:]], width=width_h * 0.9, color="#3b6ea8",
              label="household consumption (imports)")
    flows.axhline(0, color="black", linewidth=0.6)
    flows.set_ylabel("community power, kW\n(export up, import down)")
    flows.legend(loc="upper left", fontsize=9)
    flows.grid(axis="y", alpha=0.3)

    ks = sorted(data["soc"])
    charge.plot([hours[k] for k in ks], [data["soc"][k][0] / 1000 for k in ks], color="#2e8b57", linewidth=2,
                label="battery state of charge (battery meter)")
    charge.plot([hours[k] for k in ks], [data["soc"][k][1] / 1000 for k in ks], color="black", linewidth=1,
                linestyle=":", label="WATT supply (checked against the charge at every battery reading)")
    charge.set_ylabel("energy, kWh")
    charge.legend(loc="upper left", fontsize=9)
    charge.grid(alpha=0.3)

    utility = data["utility"] / TSL
    prices.axhline(utility, color="#c0392b", linewidth=1.5, label=f"utility price {utility:.2f}")
    if opts.mode == "auction":
        xs, ys = [], []
        for i, (opened, price) in enumerate(data["rounds"]):
            if i and opened - data["rounds"][i - 1][0] > opts.settlement_s:
                xs.append(float("nan"))  # no line across rounds that did not trade (the night)
                ys.append(float("nan"))
            xs.append(opened / 3600)
            ys.append(price / TSL)
        prices.step(xs, ys, where="post", color="#34495e", marker="o", markersize=3,
                    label="clearing price per round (at its opening)")
    else:
        xs, ys, sizes = [], [], []
        for k, fills in sorted(data["trades"].items()):
            for price, amount in fills:
                xs.append(hours[k])
                ys.append(price / TSL)
                sizes.append(12 + amount / 25)
        prices.scatter(xs, ys, s=sizes, alpha=0.5, color="#34495e", label="trades (size ~ kWh)")
    volume = prices.twinx()
    traded = [sum(a for _, a in data["trades"].get(k, [])) / 1000 for k in range(len(hours))]
    volume.bar([h + width_h / 2 for h in hours], traded, width=width_h * 0.9, color="#95a5a6", alpha=0.35,
               label="kWh traded")
    volume.set_ylabel("traded, kWh")
    volume.set_ylim(0, max(traded + [1]) * 3)
    prices.set_zorder(volume.get_zorder() + 1)
    prices.patch.set_visible(False)
    prices.set_ylim(0, utility * 1.15)
    prices.set_ylabel("price, TSL/kWh")
    prices.set_xlabel("simulated time (UTC)")
    handles, labels = prices.get_legend_handles_labels()
    extra_handles, extra_labels = volume.get_legend_handles_labels()
    prices.legend(handles + extra_handles, labels + extra_labels, loc="lower left", fontsize=9)
    prices.grid(alpha=0.3)
    prices.set_xlim(0, hours[-1])
    ticks = list(range(0, int(hours[-1]) + 1, 3 if hours[-1] <= 48 else 12))
    prices.set_xticks(ticks, [f"{t % 24:02d}:00" if t % 24 else f"day {t // 24 + 1}" for t in ticks])

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
