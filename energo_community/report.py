"""The day's report, read from the chain: the app's main screen for every household and
the community's figures, as a JSON-ready dict and as text.

Definitions (docs/demo.md):
- generated, stored, consumed from the battery / grid, spilled, purchased, sold: the
  battery's per-account counters (ISharedBattery.countersOf), in Wh.
- savings: what the energy served from the battery would have cost at the utility
  price, minus the TSL the household spent net (purchases - sales + storage rent), i.e.
  against a household that buys everything from the utility and has no battery.
- self-sufficiency: share of the community's consumption served from the battery.
- gas per reading: gas of every reading-batch transaction / readings in them.
  Gas per trade: gas of every market transaction (orders, purges, clearing) / trades.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime
from decimal import Decimal

from web3 import Web3
from web3.types import RPCEndpoint

from energo.constants import TSL
from energo.facts import cost_tsl, watt_to_kwh, watt_to_wh
from energo_community.chainlog import ChainLog, DemoError
from energo_community.contracts import BATCH_SIZE, batch_request, call_all, lean
from energo_community.economics import chain_cost, format_cost, household_shares

UNLIMITED = 2**256 - 1
COUNTERS = ("generated_wh", "stored_wh", "consumed_battery_wh", "consumed_grid_wh", "spilled_wh", "purchased_wh",
            "sold_wh")


def receipts_gas(w3: Web3, tx_hashes: list[str]) -> dict[str, int]:
    """Gas used by each transaction, from the node's receipts (batched; only gasUsed is read,
    so the receipts are not formatted)."""
    gas = {}
    for start in range(0, len(tx_hashes), BATCH_SIZE):
        chunk = tx_hashes[start:start + BATCH_SIZE]
        responses = batch_request(w3, [(RPCEndpoint("eth_getTransactionReceipt"), [h]) for h in chunk])
        if isinstance(responses, dict):
            raise DemoError(f"eth_getTransactionReceipt failed: {responses.get('error')}")
        for tx_hash, response in zip(chunk, responses, strict=True):
            if "error" in response:
                raise DemoError(f"eth_getTransactionReceipt {tx_hash} failed: {response['error']}")
            gas[tx_hash] = int(response["result"]["gasUsed"], 16)
    return gas


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def reading_rounds(community) -> list[int]:
    """For each interval k, the block of the last reading accepted at T(k)."""
    opts = community.options
    last = [0] * (opts.intervals + 1)
    for event in community.chainlog.named("ReadingAccepted"):
        k = (event.args["timestamp"] - opts.interval_start(0)) // opts.settlement_s
        last[k] = max(last[k], event.block)
    return last


def collect(community) -> dict:
    """Everything the report shows, from the chain (events and views)."""
    w3, battery, tsl = community.w3, community.battery, community.tsl
    opts, config = community.options, community.config
    log: ChainLog = community.chainlog
    log.poll()
    accounts = community.accounts
    names = {a: h.name for h, a in zip(community.households, accounts, strict=True)}
    treasury = community.admin.address

    per_account = 8
    calls = []
    for account in accounts:
        calls += [lean(battery)[fn](account) for fn in ("countersOf", "balanceOf", "freeTslOf", "lockedTslOf",
                                                        "pendingRent", "daysOfStorage")]
        calls += [lean(tsl).balanceOf(account), lean(battery).spendableWattOf(account)]
    values = call_all(w3, calls)
    funded = {a: 0 for a in accounts}
    for event in log.named("Transfer", "TslToken"):
        if event.args["from"] == treasury and event.args["to"] in funded:
            funded[event.args["to"]] += event.args["value"]

    # A trade's interval is the last reading round applied before it: trades of interval k
    # settle after the readings at T(k) and before those at T(k+1) (in auction mode they are
    # cleared at T(k+1), before its readings).
    read_by_block = reading_rounds(community)
    trades = []
    for event in log.named("Traded"):
        interval = bisect_right(read_by_block, event.block) - 1
        trades.append({"interval": interval, "seller": names[event.args["seller"]],
                       "buyer": names[event.args["buyer"]], "amount_wh": event.args["amountWh"],
                       "price": event.args["price"]})
    paid = {h.name: 0 for h in community.households}
    earned = {h.name: 0 for h in community.households}
    for trade in trades:
        paid[trade["buyer"]] += cost_tsl(trade["amount_wh"], trade["price"])
        earned[trade["seller"]] += cost_tsl(trade["amount_wh"], trade["price"])
    cost = chain_cost(community)
    shares = household_shares(community, cost)

    utility = config.utility_price
    households = []
    for i, (household, account) in enumerate(zip(community.households, accounts, strict=True)):
        counters, watt, free, locked, (rent_tsl, rent_watt), days, wallet, spendable = \
            values[i * per_account:(i + 1) * per_account]
        row = {"name": household.name, "account": account, "pv_peak_w": household.profile.pv_peak_w,
               "daily_load_wh": household.profile.daily_load_wh, "profile_seed": household.profile.seed}
        row.update(dict(zip(COUNTERS, counters, strict=True)))
        held = wallet + free - rent_tsl + locked
        spent = funded[account] - held
        row.update({
            "watt": watt, "spendable_wh": watt_to_wh(spendable), "tsl_wallet": wallet,
            "tsl_deposit": free - rent_tsl, "tsl_locked": locked, "rent_due_watt": rent_watt,
            "funded_tsl": funded[account], "net_spent_tsl": spent, "paid_tsl": paid[household.name],
            "earned_tsl": earned[household.name], "chain_cost": shares[account.lower()],
            "days_of_storage": None if days == UNLIMITED else days,
            "savings_tsl": cost_tsl(row["consumed_battery_wh"], utility) - spent,
        })
        households.append(row)

    readings = log.named("ReadingAccepted")
    rejected = log.named("ReadingRejected")
    reading_txs = sorted({e.tx_hash for e in readings + rejected})
    market_txs = sorted({e.tx_hash for e in log.events if e.contract == "Market"})
    gas = receipts_gas(w3, reading_txs + market_txs)
    reading_gas = sum(gas[h] for h in reading_txs)
    market_gas = sum(gas[h] for h in market_txs)

    consumed_battery = sum(h["consumed_battery_wh"] for h in households)
    consumed = consumed_battery + sum(h["consumed_grid_wh"] for h in households)
    volume = sum(t["amount_wh"] for t in trades)
    turnover = sum(t["amount_wh"] * t["price"] for t in trades) // 1000
    supply, soc, halted, tolerance = call_all(w3, [lean(battery)[fn]() for fn in (
        "supplyWh", "lastStateOfChargeWh", "mintingHalted", "reserveToleranceWh")])
    rounds = [{"round": e.args["roundId"], "price": e.args["price"], "settled_wh": e.args["settledWh"]}
              for e in log.named("RoundCleared")]
    return {
        "options": {"households": opts.households, "days": opts.days, "mode": opts.mode, "seed": opts.seed,
                    "interval_minutes": opts.interval_minutes, "settlement_minutes": opts.settlement},
        "period": {"start": _iso(opts.interval_start(0)), "end": _iso(opts.interval_start(opts.intervals)),
                   "intervals": opts.intervals},
        "utility_price": utility,
        "households": households,
        "community": {
            "households_with_pv": sum(1 for h in community.households if h.has_pv),
            "generated_wh": sum(h["generated_wh"] for h in households),
            "stored_wh": sum(h["stored_wh"] for h in households),
            "spilled_wh": sum(h["spilled_wh"] for h in households),
            "consumed_wh": consumed,
            "consumed_battery_wh": consumed_battery,
            "self_sufficiency": round(consumed_battery / consumed, 4) if consumed else 0.0,
            "trades": len(trades),
            "volume_wh": volume,
            "purchased_wh": sum(h["purchased_wh"] for h in households),
            "sold_wh": sum(h["sold_wh"] for h in households),
            "turnover_tsl": turnover,
            "average_price": turnover * 1000 // volume if volume else 0,
            "savings_tsl": sum(h["savings_tsl"] for h in households),
            "readings": len(readings),
            "readings_rejected": len(rejected),
            "reading_txs": len(reading_txs),
            "gas_per_reading": reading_gas // len(readings) if readings else 0,
            "market_txs": len(market_txs),
            "gas_per_trade": market_gas // len(trades) if trades else 0,
            "watt_supply_wh": supply,
            "battery_soc_wh": soc,
            "reserve_tolerance_wh": tolerance,
            "minting_halted": halted,
        },
        "chain_cost": cost,
        "trades": trades,
        "rounds": rounds,
    }


# ---------------------------------------------------------------- text


def kwh(wh: int) -> str:
    return f"{Decimal(wh) / 1000:,.3f}"


def tsl_text(amount: int, places: int = 3) -> str:
    return f"{Decimal(amount) / TSL:,.{places}f}"


def price_text(price: int) -> str:
    return f"{Decimal(price) / TSL:.3f}"


def format_report(report: dict) -> str:
    c = report["community"]
    utility = report["utility_price"]
    opts = report["options"]
    lines = [
        f"Energo community day: {opts['households']} households ({c['households_with_pv']} with PV), "
        f"{report['period']['start']} to {report['period']['end']} UTC, {report['period']['intervals']} intervals of "
        f"{opts.get('settlement_minutes', opts['interval_minutes'])} min"
        + (f" (meters read every {opts['interval_minutes']} min, submitted at each settlement)"
           if opts.get("settlement_minutes", opts["interval_minutes"]) != opts["interval_minutes"] else "")
        + f", {opts['mode']} market, seed {opts['seed']}",
        "",
        "Per household (energy in kWh; TSL deposit is after rent due; savings against the utility price)",
        f"{'':4} {'PV kW':>5} {'generated':>9} {'stored':>8} {'from batt':>9} {'from grid':>9} {'bought':>7} "
        f"{'sold':>7} {'WATT':>8} {'TSL wallet':>10} {'TSL depos':>9} {'storage':>9} {'savings':>8}",
    ]
    for h in report["households"]:
        days = "no WATT" if h["days_of_storage"] is None else f"{Decimal(h['days_of_storage']) / 10**18:,.0f} d"
        lines.append(
            f"{h['name']:4} {h['pv_peak_w'] / 1000:>5.1f} {kwh(h['generated_wh']):>9} {kwh(h['stored_wh']):>8} "
            f"{kwh(h['consumed_battery_wh']):>9} {kwh(h['consumed_grid_wh']):>9} {kwh(h['purchased_wh']):>7} "
            f"{kwh(h['sold_wh']):>7} {watt_to_kwh(h['watt']):>8,.3f} {tsl_text(h['tsl_wallet']):>10} "
            f"{tsl_text(h['tsl_deposit']):>9} {days:>9} {tsl_text(h['savings_tsl']):>8}")
    average = c["average_price"]
    share = f" ({average * 100 // utility}% of it)" if average else ""
    lines += [
        "",
        "Community",
        f"  generated into the battery   {kwh(c['generated_wh'])} kWh (stored {kwh(c['stored_wh'])}, "
        f"spilled {kwh(c['spilled_wh'])})",
        f"  consumed                     {kwh(c['consumed_wh'])} kWh, {kwh(c['consumed_battery_wh'])} from the battery",
        f"  self-sufficiency             {c['self_sufficiency'] * 100:.1f} %",
        f"  trades                       {c['trades']}, volume {kwh(c['volume_wh'])} kWh "
        f"(purchased {kwh(c['purchased_wh'])}, sold {kwh(c['sold_wh'])})",
        f"  average price                {price_text(average)} TSL/kWh against the utility's "
        f"{price_text(utility)}{share}",
        f"  savings, all households      {tsl_text(c['savings_tsl'])} TSL",
        f"  WATT supply / battery charge {kwh(c['watt_supply_wh'])} / {kwh(c['battery_soc_wh'])} kWh "
        f"(tolerance {kwh(c['reserve_tolerance_wh'])}{', minting halted' if c['minting_halted'] else ''})",
        f"  readings                     {c['readings']} accepted, {c['readings_rejected']} rejected, "
        f"in {c['reading_txs']} batch transactions",
        f"  gas per reading              {c['gas_per_reading']:,}",
        f"  gas per trade                {c['gas_per_trade']:,} ({c['market_txs']} market transactions)",
    ]
    if "chain_cost" in report:
        lines += ["", *format_cost(report["chain_cost"], report["households"], opts["days"])]
    return "\n".join(lines)
