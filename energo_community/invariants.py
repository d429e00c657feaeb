"""The checks the run ends with, against the chain: each says what it compared."""

from __future__ import annotations

from dataclasses import dataclass

from energo.facts import ZERO_ADDRESS
from energo_community.contracts import call_all, lean


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _holders(log, contract: str, known: set[str]) -> list[str]:
    found = set(known)
    for event in log.named("Transfer", contract):
        found.update(a for a in (event.args["from"], event.args["to"]) if a != ZERO_ADDRESS)
    return sorted(found)


def check_invariants(community) -> list[Check]:
    w3, battery, tsl, log = community.w3, community.battery, community.tsl, community.chainlog
    log.poll()
    households = set(community.accounts)
    known = households | {community.operator, community.admin.address} | {g.sender for g in community.gateways}
    checks = []

    def views(contract, fn: str, accounts) -> list:
        return call_all(w3, [lean(contract)[fn](a) for a in accounts])

    supply, soc, tolerance, halted, total_watt = call_all(w3, [lean(battery)[fn]() for fn in (
        "supplyWh", "lastStateOfChargeWh", "reserveToleranceWh", "mintingHalted", "totalSupply")])
    deficits = log.named("ReserveDeficit")
    reserve_ok = supply <= soc + tolerance or (halted and bool(deficits))
    checks.append(Check("WATT within the battery's charge", reserve_ok,
                        f"supply {supply} Wh, last state of charge {soc} Wh + tolerance {tolerance} Wh"
                        + (f"; minting halted after {len(deficits)} ReserveDeficit event(s)" if halted else "")))

    watt_holders = _holders(log, "SharedBattery", known)
    balances = views(battery, "balanceOf", watt_holders)
    checks.append(Check("WATT balances sum to the supply", sum(balances) == total_watt,
                        f"sum over {len(watt_holders)} holders {sum(balances)} vs totalSupply {total_watt}"))

    counters = views(battery, "countersOf", sorted(households))
    stored = sum(c[1] for c in counters)
    served = sum(c[2] for c in counters)
    checks.append(Check("energy ledger: stored - served from battery = supply", stored - served == supply,
                        f"stored {stored} Wh - served {served} Wh vs supply {supply} Wh"))

    tsl_holders = _holders(log, "TslToken", known | {battery.address, community.market.address})
    tsl_balances = views(tsl, "balanceOf", tsl_holders)
    tsl_supply = lean(tsl).totalSupply().call()
    checks.append(Check("TSL conserved", sum(tsl_balances) == tsl_supply,
                        f"sum over {len(tsl_holders)} holders {sum(tsl_balances)} vs totalSupply {tsl_supply}"))

    depositors = sorted(known | {e.args["account"] for e in log.named("TslDeposited")})
    owed = (sum(views(battery, "freeTslOf", depositors)) + sum(views(battery, "lockedTslOf", depositors))
            + lean(battery).rentCollected().call())
    held = lean(tsl).balanceOf(battery.address).call()
    checks.append(Check("battery escrow = free + locked deposits + uncollected rent", held == owed,
                        f"battery holds {held} TSL base units, owes {owed}"))
    return checks


def format_checks(checks: list[Check]) -> str:
    return "\n".join(f"  [{'ok' if c.ok else 'FAILED'}] {c.name}: {c.detail}" for c in checks)
