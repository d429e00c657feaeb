"""Gas of the ledger and the battery, measured on the local Qtum-like chain (anvil).

Readings: a realistic mix (every other household both exports and imports, the rest
only import), one reading per meter, meters already known, rent prepaid in TSL. Gas per
reading is the whole transaction's gas divided by the batch size (21,000 base included).
All meters belong to one gateway, whose key signs each batch once (`submitBatch`, the
gateway's default); `reading_batch_50_signed_each` is the same batch with a signature per
reading (`submitReadings`, for meters that have keys of their own).

The chain runs on a fixed clock (genesis at GENESIS_TIMESTAMP, every step set explicitly),
so the signed readings, whose zero bytes set their calldata gas, and therefore every figure
are the same on every run. LedgerBench measures one operation per method; measure() runs
them in order (tests/benchmarks checks them against benchmarks/results/ledger.json).
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
GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
SETUP_ALLOWANCE = 3_600  # setup's blocks run on wall time from genesis: the first step comes after them
TARGETS = {
    "reading_batch_50": "<= 13,000",
    "tx_single_reading": "<= 70,000",
    "watt_transfer": "<= 50,000",
}
GATEWAY = Account.from_key(Web3.keccak(text="bench-gateway"))


class _Meter:
    def __init__(self, meter_id: int, account: str):
        self.meter_id = meter_id
        self.account = account
        self.seq = 0
        self.import_wh = 0
        self.export_wh = 0


def _reading(meter: _Meter, timestamp: int, import_delta: int, export_delta: int) -> MeterReading:
    meter.seq += 1
    meter.import_wh += import_delta
    meter.export_wh += export_delta
    return MeterReading(meter.meter_id, meter.seq, timestamp, meter.import_wh, meter.export_wh, 0)


def chain(meters: int = METERS) -> Anvil:
    """The benchmark's anvil: enough accounts for `meters` households, on the fixed clock."""
    return Anvil(accounts=FIRST_HOUSEHOLD + meters, extra_args=["--timestamp", str(GENESIS_TIMESTAMP)])


class LedgerBench:
    """`meters` registered households with prepaid rent on a fresh chain(); each method
    below the setup measures one operation and returns its gas."""

    def __init__(self, w3: Web3, meters: int = METERS):
        self.w3 = w3
        accounts = w3.eth.accounts
        admin, treasury, operator, registrar = (Sender(w3, a) for a in accounts[:4])
        self.relayer = Sender(w3, accounts[4])
        system = deploy_system(w3, Roles(admin, treasury, operator, registrar),
                               SystemConfig(capacity_wh=100_000_000))
        assert system.ledger.functions.hasRole(REGISTRAR_ROLE, registrar.address).call()
        self.ledger, self.battery, tsl = system.ledger, system.battery, system.tsl
        self.chain_id = w3.eth.chain_id
        self.households = [Sender(w3, a) for a in accounts[FIRST_HOUSEHOLD:FIRST_HOUSEHOLD + meters]]
        self.meters = []
        for i, household in enumerate(self.households):
            meter = _Meter(i + 1, household.address)
            registrar.transact(self.ledger.functions.registerMeter(meter.meter_id, GATEWAY.address,
                                                                   household.address, 0, 20_000, 0, 0))
            treasury.transact(tsl.functions.transfer(household.address, 100 * TSL))
            household.transact(tsl.functions.approve(self.battery.address, 2**256 - 1))
            household.transact(self.battery.functions.deposit(50 * TSL))
            self.meters.append(meter)
        self.clock = GENESIS_TIMESTAMP + SETUP_ALLOWANCE
        self.signer = ReadingSigner(bytes(GATEWAY.key), ReadingDomain(self.chain_id, self.ledger.address))

    def advance(self, seconds: int) -> int:
        """Mines a block exactly `seconds` after the previous step; returns its time."""
        self.clock += seconds
        latest = self.w3.eth.get_block("latest")["timestamp"]
        assert self.clock > latest, f"chain clock {latest} is past the benchmark's step {self.clock}"
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [self.clock])
        self.w3.provider.make_request("evm_mine", [])
        return self.clock

    def batch(self, n: int, warmup: bool = False, signed_each: bool = False) -> int:
        """Gas of one transaction carrying the next reading of the first `n` meters."""
        now = self.advance(900)
        ledger = self.ledger
        readings = []
        for i, meter in enumerate(self.meters[:n]):
            if warmup:
                readings.append(_reading(meter, now, 100, 4_000))
            elif i % 2 == 0:
                readings.append(_reading(meter, now, 150, 900))
            else:
                readings.append(_reading(meter, now, 400, 0))
        if signed_each:
            call = ledger.functions.submitReadings(b"".join(self.signer.sign(r).record() for r in readings))
        else:
            call = ledger.functions.submitBatch(*self.signer.sign_batch(readings).args())
        receipt = self.relayer.transact(call)
        accepted = len(ledger.events.ReadingAccepted().process_receipt(receipt, errors=DISCARD))
        assert accepted == n, f"only {accepted} of {n} readings accepted"
        return receipt["gasUsed"]

    def warm_up(self) -> None:
        """A first reading of every meter: every meter, balance and counter slot written."""
        self.batch(len(self.meters), warmup=True)

    def reading_batch(self, n: int, signed_each: bool = False) -> float:
        """Gas per reading in a batch of `n`."""
        return round(self.batch(n, signed_each=signed_each) / n, 1)

    def single_reading(self) -> int:
        return self.batch(1)

    def deposit_tsl(self) -> int:
        self.advance(3600)
        return self.households[0].transact(self.battery.functions.deposit(10 * TSL))["gasUsed"]

    def withdraw_tsl(self) -> int:
        self.advance(3600)
        return self.households[0].transact(self.battery.functions.withdraw(5 * TSL))["gasUsed"]

    def watt_transfer(self) -> int:
        self.advance(3600)
        alice, bob = self.households[0], self.households[1]
        return alice.transact(self.battery.functions.transfer(bob.address, WATT // 10))["gasUsed"]


def measure(meters: int = METERS) -> dict[str, float]:
    """Every figure, the batch of 100 last: a run with 50 meters (tests/benchmarks) is a
    prefix of the full one and measures the same figures, all but that batch."""
    with chain(meters) as node:
        bench = LedgerBench(node.web3(), meters)
        bench.warm_up()
        metrics: dict[str, float] = {}
        for n in (1, 10, 50):
            metrics[f"reading_batch_{n}"] = bench.reading_batch(n)
        metrics["tx_single_reading"] = bench.single_reading()
        metrics["reading_batch_50_signed_each"] = bench.reading_batch(50, signed_each=True)
        metrics["deposit_tsl"] = bench.deposit_tsl()
        metrics["withdraw_tsl"] = bench.withdraw_tsl()
        metrics["watt_transfer"] = bench.watt_transfer()
        if meters >= 100:
            metrics["reading_batch_100"] = bench.reading_batch(100)
        return metrics


def main() -> dict[str, float]:
    metrics = measure()
    write_results("ledger", metrics)
    print_table("ledger (gas)", [(k, v, TARGETS.get(k, "")) for k, v in metrics.items()])
    return metrics


if __name__ == "__main__":
    main()
