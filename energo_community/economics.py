"""What the community's chain costs: the gas of every transaction, read block by block.

The chain is read with plain JSON-RPC (``eth_getBlockByNumber`` with full transactions,
``eth_getTransactionReceipt``), every block from the first after genesis to the head, so
no transaction is missed, whoever sent it: the households, the gateways and their
keepers, the operator, the deployer. Each transaction is classified by the contract it
calls (the deployment's addresses) and its function selector (from the contracts' ABIs):

- ``readings``: reading batches to the MeterLedger (the gateways);
- ``orders``: placing and cancelling orders on the market (the households);
- ``clearing``: clearing call-auction rounds (the keeper) and purging expired offers;
- ``deposits``: a household's TSL approval, deposit and withdrawal at the battery;
- ``operator``: the operator's and registrar's work (settleRent, meter registration,
  funding households, gas coin to the gateways);
- ``deployment``: the deployment engine's transactions (contract creations, set-up);
- ``other``: anything else (none in the demo; a test keeps it so).

Three scopes, by block: ``deployment`` (up to the engine's last block), ``setup``
(registration, funding, the households' first deposits: an hour before the day) and
``day`` (from the first block at T0 to the head, every settlement of the simulated day).
The day's gas per household-day is the day's gas / households / days; its cost in QTUM
is at Qtum's minimum gas price, 40 satoshi per gas (1 QTUM = 10^8 satoshi).

Per household, the day's gas is split as it is caused: the household's own transactions
(orders, deposits), its meter's share of the reading batches (a batch's gas / the
readings in it), and an equal share of everything shared (the battery's readings,
clearing, the operator's transactions). The shares add up to the day's gas.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any

from eth_utils import function_abi_to_4byte_selector
from web3 import Web3
from web3.types import RPCEndpoint

from energo.artifacts import abi as artifact_abi
from energo.constants import TSL
from energo.facts import MARKET_CONTRACTS
from energo_community.chainlog import DemoError
from energo_community.contracts import BATCH_SIZE, batch_request

#: Qtum's minimum gas price, in satoshi per gas (1 QTUM = 10^8 satoshi).
GAS_PRICE_SAT = 40
SAT_PER_QTUM = 10**8
CATEGORIES = ("readings", "orders", "clearing", "deposits", "operator", "deployment", "other")
SCOPES = ("deployment", "setup", "day")

_CLEARING = re.compile(r"clear|purge|sweep", re.IGNORECASE)
_ORDERS = re.compile(r"order|place|cancel|standing", re.IGNORECASE)
_DEPOSITS = re.compile(r"deposit|withdraw|permit|approve", re.IGNORECASE)
_READINGS = re.compile(r"submit", re.IGNORECASE)


def qtum(gas: int | float | Fraction) -> float:
    """QTUM at Qtum's minimum gas price."""
    return float(Fraction(gas) * GAS_PRICE_SAT / SAT_PER_QTUM)


def _batch(w3: Web3, method: str, params: list[list]) -> list[Any]:
    results = []
    for start in range(0, len(params), BATCH_SIZE):
        chunk = params[start:start + BATCH_SIZE]
        responses = batch_request(w3, [(RPCEndpoint(method), p) for p in chunk])
        if isinstance(responses, dict):
            raise DemoError(f"{method} batch failed: {responses.get('error')}")
        for p, response in zip(chunk, responses, strict=True):
            if "error" in response or response.get("result") is None:
                raise DemoError(f"{method} {p} failed: {response.get('error', 'no result')}")
            results.append(response["result"])
    return results


def read_chain(w3: Web3, first: int, last: int) -> list[dict]:
    """Every transaction of blocks first..last, as plain dicts: block, timestamp, from,
    to, selector, gas used; and each block's own gasUsed (the header's), to check against."""
    blocks = _batch(w3, "eth_getBlockByNumber", [[hex(n), True] for n in range(first, last + 1)])
    txs = [tx for block in blocks for tx in block["transactions"]]
    receipts = _batch(w3, "eth_getTransactionReceipt", [[tx["hash"]] for tx in txs])
    by_hash = {r["transactionHash"]: r for r in receipts}
    rows = []
    for block in blocks:
        for tx in block["transactions"]:
            receipt = by_hash[tx["hash"]]
            rows.append({"block": int(block["number"], 16), "hash": tx["hash"], "from": tx["from"].lower(),
                         "to": (tx.get("to") or "").lower() or None, "selector": tx["input"][:10],
                         "gas": int(receipt["gasUsed"], 16), "status": int(receipt["status"], 16)})
    return rows


def block_gas(w3: Web3, first: int, last: int) -> int:
    """The sum of the blocks' own gasUsed (headers only): what the categories must add up to."""
    blocks = _batch(w3, "eth_getBlockByNumber", [[hex(n), False] for n in range(first, last + 1)])
    return sum(int(block["gasUsed"], 16) for block in blocks)


def _selectors(contracts: dict[str, str]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """address -> contract name, and (address, selector) -> function name, for every
    contract of the deployment that has an exported artifact."""
    roles, functions = {}, {}
    for name, address in contracts.items():
        roles[address.lower()] = name
        try:
            entries = artifact_abi(name)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.get("type") == "function":
                selector = "0x" + function_abi_to_4byte_selector(entry).hex()
                functions[(address.lower(), selector)] = entry["name"]
    return roles, functions


def classify(tx: dict, roles: dict[str, str], functions: dict[tuple[str, str], str],
             gateways: set[str], households: set[str], staff: set[str]) -> str:
    """A transaction's category, from the contract it calls and the function's name
    (with the sender where the name alone does not say it)."""
    to, sender = tx["to"], tx["from"]
    if to is None:
        return "deployment"
    role = roles.get(to)
    name = functions.get((to, tx["selector"]), "")
    if role is None:
        # not a contract of the deployment: a plain coin transfer (gas coin to a gateway)
        return "operator" if tx["selector"] in ("", "0x") and sender in staff else "other"
    if role == "MeterLedger":
        if sender in gateways or _READINGS.match(name):
            return "readings"
        return "operator" if sender in staff else "other"
    if role in MARKET_CONTRACTS.values() or _CLEARING.search(name) or _ORDERS.search(name):
        if _CLEARING.search(name) or sender in gateways:
            return "clearing"
        if _ORDERS.search(name) or sender in households:
            return "orders"
    if sender in households and _DEPOSITS.search(name):
        return "deposits"
    if sender in staff:
        return "operator"
    return "other"


def _empty() -> dict:
    return {"blocks": 0, "transactions": 0, "gas": 0,
            "categories": {c: {"transactions": 0, "gas": 0} for c in CATEGORIES},
            "functions": {}}  # "Contract.function" -> category, transactions, gas


def chain_cost(community) -> dict:
    """The chain's cost report of a community whose day is over (chain still up)."""
    w3 = community.w3
    opts = community.options
    head = int(w3.eth.block_number)
    day_first = community.interval_blocks[0]
    gateways = {g.sender.lower() for g in community.gateways}
    households = {a.lower() for a in community.accounts}
    staff = {community.admin.address.lower(), community.operator.lower()}
    roles, functions = _selectors(community.deployed)
    rows = read_chain(w3, 1, head)

    scopes = {s: _empty() for s in SCOPES}
    for scope, first, last in (("deployment", 1, community.deploy_block),
                               ("setup", community.deploy_block + 1, day_first - 1), ("day", day_first, head)):
        scopes[scope]["blocks"] = max(0, last - first + 1)
        scopes[scope]["first_block"], scopes[scope]["last_block"] = first, last
    day_rows = []
    for tx in rows:
        scope = "deployment" if tx["block"] <= community.deploy_block else "setup" if tx["block"] < day_first else "day"
        category = "deployment" if scope == "deployment" else classify(tx, roles, functions, gateways, households,
                                                                         staff)
        tx["category"] = category
        entry = scopes[scope]
        role = roles.get(tx["to"] or "", "(creation)" if tx["to"] is None else "(account)")
        plain = tx["selector"] in ("", "0x")
        called = f"{role}.{functions.get((tx['to'] or '', tx['selector']), 'transfer' if plain else tx['selector'])}"
        line = entry["functions"].setdefault(called, {"category": category, "transactions": 0, "gas": 0})
        line["transactions"] += 1
        line["gas"] += tx["gas"]
        entry["transactions"] += 1
        entry["gas"] += tx["gas"]
        entry["categories"][category]["transactions"] += 1
        entry["categories"][category]["gas"] += tx["gas"]
        if scope == "day":
            day_rows.append(tx)

    household_days = opts.households * opts.days
    day = scopes["day"]
    per_household_day = {
        "gas": day["gas"] // household_days,
        "categories": {c: day["categories"][c]["gas"] // household_days for c in CATEGORIES},
        "qtum": round(qtum(Fraction(day["gas"], household_days)), 8),
        "qtum_categories": {c: round(qtum(Fraction(day["categories"][c]["gas"], household_days)), 8)
                            for c in CATEGORIES},
    }
    return {
        "gas_price_sat": GAS_PRICE_SAT,
        "settlement_minutes": opts.settlement,
        "household_days": household_days,
        "scopes": scopes,
        "per_household_day": per_household_day,
        "one_off_per_household": {
            "gas": scopes["setup"]["gas"] // opts.households,
            "qtum": round(qtum(Fraction(scopes["setup"]["gas"], opts.households)), 8),
        },
        "_day_rows": day_rows,
    }


def household_shares(community, cost: dict) -> dict[str, dict]:
    """Each household's share of the day's gas: own transactions, its readings' share of
    their batches, and an equal share of the rest. Returns account -> figures (Fractions
    rounded to whole gas); the shares add up to the day's gas within rounding."""
    rows = cost.pop("_day_rows")
    accounts = [a.lower() for a in community.accounts]
    meter_account = {h.meter_id: a.lower() for h, a in zip(community.households, community.accounts, strict=True)}
    readings_in_tx: dict[str, list[int]] = defaultdict(list)
    for event in community.chainlog.named("ReadingAccepted") + community.chainlog.named("ReadingRejected"):
        readings_in_tx[event.tx_hash].append(event.args["meterId"])
    own = {a: Fraction(0) for a in accounts}
    readings = {a: Fraction(0) for a in accounts}
    shared = Fraction(0)
    for tx in rows:
        if tx["from"] in own:
            own[tx["from"]] += tx["gas"]
        elif tx["category"] == "readings" and readings_in_tx.get(tx["hash"]):
            meters = readings_in_tx[tx["hash"]]
            for meter in meters:
                account = meter_account.get(meter)
                if account is None:
                    shared += Fraction(tx["gas"], len(meters))
                else:
                    readings[account] += Fraction(tx["gas"], len(meters))
        else:
            shared += tx["gas"]
    each = shared / len(accounts)
    days = community.options.days
    shares = {}
    for account in accounts:
        total = own[account] + readings[account] + each
        shares[account] = {"own_gas": round(own[account]), "readings_gas": round(readings[account]),
                           "shared_gas": round(each), "gas": round(total),
                           "gas_per_day": round(total / days), "qtum_per_day": round(qtum(total / days), 8)}
    return shares


def format_cost(cost: dict, households: list[dict], days: int) -> list[str]:
    """The report's chain-cost section, as text lines."""
    day = cost["scopes"]["day"]
    phd = cost["per_household_day"]
    lines = [
        f"Chain cost (every transaction of the day's {day['blocks']} blocks, read with JSON-RPC; "
        f"QTUM at {cost['gas_price_sat']} sat/gas; settlement every {cost['settlement_minutes']} min)",
        f"  {'category':10} {'txs':>6} {'gas':>14} {'gas/household-day':>18} {'QTUM/household-day':>19}",
    ]
    for category in CATEGORIES:
        entry = day["categories"][category]
        if not entry["transactions"] and category in ("deployment", "other"):
            continue
        lines.append(f"  {category:10} {entry['transactions']:>6,} {entry['gas']:>14,} "
                     f"{phd['categories'][category]:>18,} {phd['qtum_categories'][category]:>19.4f}")
    lines.append(f"  {'total':10} {day['transactions']:>6,} {day['gas']:>14,} {phd['gas']:>18,} "
                 f"{phd['qtum']:>19.4f}")
    lines.append("  by function (gas per transaction): " + "; ".join(
        f"{name} {f['gas'] // f['transactions']:,} x {f['transactions']:,}"
        for name, f in sorted(day["functions"].items(), key=lambda item: -item[1]["gas"])))
    setup = cost["scopes"]["setup"]
    lines.append(f"  one-off set-up (registration, funding, first deposits): {setup['gas']:,} gas, "
                 f"{cost['one_off_per_household']['qtum']:.4f} QTUM per household; deployment "
                 f"{cost['scopes']['deployment']['gas']:,} gas")
    lines += ["",
              "Per household and day: its gas (own transactions + its readings + an equal share of the rest) "
              "beside its TSL (savings against the utility; earned: its sales)",
              f"  {'':4} {'own gas':>10} {'readings':>10} {'shared':>10} {'gas/day':>10} {'QTUM/day':>9} "
              f"{'savings/day':>11} {'earned/day':>10}"]
    for h in households:
        g = h["chain_cost"]
        lines.append(f"  {h['name']:4} {g['own_gas']:>10,} {g['readings_gas']:>10,} {g['shared_gas']:>10,} "
                     f"{g['gas_per_day']:>10,} {g['qtum_per_day']:>9.4f} "
                     f"{Decimal(h['savings_tsl']) / TSL / days:>11.3f} "
                     f"{Decimal(h['earned_tsl']) / TSL / days:>10.3f}")
    return lines
