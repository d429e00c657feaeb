"""Gas of the ledger and the battery, measured on the local Qtum-like chain (anvil).

Readings: a realistic mix (every other household both exports and imports, the rest
only import), one reading per meter, meters already known, rent prepaid in TSL. Gas per
reading is the whole transaction's gas divided by the batch size (21,000 base included).
"""

from __future__ import annotations

from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from benchmarks.run import print_table, write_results
from energo.constants import TSL, WATT
from energo.facts import REGISTRAR_ROLE
from energo.readings import MeterReading, ReadingDomain, ReadingSigner
from energo.tx import Sender
from energo_deploy.localchain import Anvil
from energo_deploy.system import Roles, SystemConfig, deploy_system

METERS = 100
FIRST_HOUSEHOLD = 6
TARGETS = {
    "reading_batch_50": "<= 25,000",
    "tx_single_reading": "<= 70,000",
    "watt_transfer": "<= 50,000",
}
class _Meter:
    def __init__(self, meter_id: int, account: str):
        self.meter_id = meter_id
        self.account = account
        self.key = Account.from_key(Web3.keccak(text=f"bench-meter-{meter_id}"))
        self.seq = 0
        self.import_wh = 0
        self.export_wh = 0


def _record(meter: _Meter, chain_id: int, ledger: str, timestamp: int, import_delta: int, export_delta: int) -> bytes:
    """One signed 105-byte record, made by the gateways' own signer (energo.readings)."""
    meter.seq += 1
    meter.import_wh += import_delta
    meter.export_wh += export_delta
    reading = MeterReading(meter.meter_id, meter.seq, timestamp, meter.import_wh, meter.export_wh, 0)
    return ReadingSigner(bytes(meter.key.key), ReadingDomain(chain_id, ledger)).sign(reading).record()


def _advance(w3: Web3, seconds: int) -> int:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])
    return w3.eth.get_block("latest")["timestamp"]


def measure() -> dict[str, float]:
    with Anvil(accounts=FIRST_HOUSEHOLD + METERS) as node:
        w3 = node.web3()
        accounts = w3.eth.accounts
        admin, treasury, operator, registrar = (Sender(w3, a) for a in accounts[:4])
        relayer = Sender(w3, accounts[4])
        system = deploy_system(w3, Roles(admin, treasury, operator, registrar),
                               SystemConfig(capacity_wh=100_000_000))
        assert system.ledger.functions.hasRole(REGISTRAR_ROLE, registrar.address).call()
        ledger, battery, tsl = system.ledger, system.battery, system.tsl
        chain_id = w3.eth.chain_id
        households = [Sender(w3, a) for a in accounts[FIRST_HOUSEHOLD:FIRST_HOUSEHOLD + METERS]]
        meters = []
        for i, household in enumerate(households):
            meter = _Meter(i + 1, household.address)
            registrar.transact(ledger.functions.registerMeter(meter.meter_id, meter.key.address, household.address,
                                                              0, 20_000, 0, 0))
            treasury.transact(tsl.functions.transfer(household.address, 100 * TSL))
            household.transact(tsl.functions.approve(battery.address, 2**256 - 1))
            household.transact(battery.functions.deposit(50 * TSL))
            meters.append(meter)

        def batch(n: int, warmup: bool = False) -> int:
            now = _advance(w3, 900)
            records = []
            for i, meter in enumerate(meters[:n]):
                if warmup:
                    records.append(_record(meter, chain_id, ledger.address, now, 100, 4_000))
                elif i % 2 == 0:
                    records.append(_record(meter, chain_id, ledger.address, now, 150, 900))
                else:
                    records.append(_record(meter, chain_id, ledger.address, now, 400, 0))
            receipt = relayer.transact(ledger.functions.submitReadings(b"".join(records)))
            accepted = len(ledger.events.ReadingAccepted().process_receipt(receipt, errors=DISCARD))
            assert accepted == n, f"only {accepted} of {n} readings accepted"
            return receipt["gasUsed"]

        batch(METERS, warmup=True)  # every meter, balance and counter slot already written
        metrics: dict[str, float] = {}
        for n in (1, 10, 50, 100):
            metrics[f"reading_batch_{n}"] = round(batch(n) / n, 1)
        metrics["tx_single_reading"] = batch(1)

        alice, bob = households[0], households[1]
        _advance(w3, 3600)
        metrics["deposit_tsl"] = alice.transact(battery.functions.deposit(10 * TSL))["gasUsed"]
        _advance(w3, 3600)
        metrics["withdraw_tsl"] = alice.transact(battery.functions.withdraw(5 * TSL))["gasUsed"]
        _advance(w3, 3600)
        metrics["watt_transfer"] = alice.transact(battery.functions.transfer(bob.address, WATT // 10))["gasUsed"]
        return metrics


def main() -> dict[str, float]:
    metrics = measure()
    write_results("ledger", metrics)
    print_table("ledger (gas)", [(k, v, TARGETS.get(k, "")) for k, v in metrics.items()])
    return metrics


if __name__ == "__main__":
    main()
