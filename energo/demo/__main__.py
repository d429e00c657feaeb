"""`python -m energo.demo` (`make demo`): a household on the shared battery, end to end.

Starts the local Qtum-like chain, deploys Energo, registers a household meter, and plays
a small day: the household prepays rent, its panels export, it consumes from what it
stored and from the grid, time passes. Then it prints the household's main screen.
Interim: the full community demo replaces it.
"""

from __future__ import annotations

from web3 import Web3

from energo.constants import TSL, WATT
from energo.localchain import Anvil
from energo.readings import MeterReading, ReadingDomain, ReadingSigner, pack_batch
from energo.system import Roles, deploy_system
from energo.tx import Sender

HOUR = 3_600
#: (hours after the previous reading, Wh imported, Wh exported): a sunny day.
DAY_OF_READINGS = [(7, 900, 0), (4, 150, 6_200), (4, 80, 7_400), (5, 2_300, 400), (4, 1_900, 0)]


def _advance(w3: Web3, seconds: int) -> int:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])
    return w3.eth.get_block("latest")["timestamp"]


def _screen(system, account: str) -> list[tuple[str, str]]:
    b = system.battery.functions
    c = b.countersOf(account).call()
    days = b.daysOfStorage(account).call()

    def kwh(wh: int) -> str:
        return f"{wh / 1000:,.3f} kWh"

    return [
        ("WATT held", f"{b.balanceOf(account).call() / WATT:,.3f} WATT"),
        ("TSL free / locked", f"{b.freeTslOf(account).call() / TSL:,.4f} / {b.lockedTslOf(account).call() / TSL:,.4f} TSL"),
        ("days of storage covered", "unlimited" if days == 2**256 - 1 else f"{days / 10**18:,.2f} days"),
        ("generated", kwh(c[0])),
        ("stored", kwh(c[1])),
        ("consumed from battery", kwh(c[2])),
        ("consumed from grid", kwh(c[3])),
        ("spilled", kwh(c[4])),
        ("purchased", kwh(c[5])),
        ("sold", kwh(c[6])),
    ]


def main() -> int:
    with Anvil() as node:
        w3 = node.web3()
        admin, treasury, operator, registrar, relayer, household = (Sender(w3, a) for a in w3.eth.accounts[:6])
        system = deploy_system(w3, Roles(admin=admin, treasury=treasury, operator=operator, registrar=registrar))
        print(f"deployed on chain {w3.eth.chain_id}: {system.addresses()}")

        meter_key = bytes(Web3.keccak(text="energo-demo-meter-1"))
        signer = ReadingSigner(meter_key, ReadingDomain(w3.eth.chain_id, system.ledger.address))
        registrar.transact(system.ledger.functions.registerMeter(1, signer.address, household.address, 0, 8_000,
                                                                 0, 0))
        treasury.transact(system.tsl.functions.transfer(household.address, 50 * TSL))
        household.transact(system.tsl.functions.approve(system.battery.address, 5 * TSL))
        household.transact(system.battery.functions.deposit(5 * TSL))
        print("household prepaid 5 TSL of storage rent")

        imported = exported = 0
        for seq, (hours, import_wh, export_wh) in enumerate(DAY_OF_READINGS, start=1):
            now = _advance(w3, hours * HOUR)
            imported, exported = imported + import_wh, exported + export_wh
            signed = signer.sign(MeterReading(1, seq, now, imported, exported))
            receipt = relayer.transact(system.ledger.functions.submitReadings(pack_batch([signed])))
            print(f"reading {seq}: +{import_wh} Wh imported, +{export_wh} Wh exported "
                  f"(gas {receipt['gasUsed']:,})")

        _advance(w3, 7 * 24 * HOUR)
        household.transact(system.battery.functions.settleRent(household.address))
        print("a week passes; rent settled\n")
        print(f"household {household.address}")
        for label, value in _screen(system, household.address):
            print(f"  {label:26s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
