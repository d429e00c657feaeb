"""Giving households WATT and TSL the only ways the system allows, for market tests.

WATT comes from a signed export reading of a meter registered to the household (EIP-712,
signed with eth-account); TSL from the treasury, then approve + battery.deposit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.logs import DISCARD

from energo.facts import RejectReason
from energo.readings import MeterReading, ReadingDomain, SignedReading
from energo.tx import Sender
from energo_deploy.system import EnergoSystem

#: The highest rated power a meter can have (uint32 W): lets one reading carry a lot.
RATED_POWER_W = 4_000_000_000
CHARGE_BPS = 10_000


def export_for(stored_wh: int, efficiency_bps: int) -> int:
    """Exported Wh that mints exactly ``stored_wh`` at ``efficiency_bps``."""
    return -(-stored_wh * CHARGE_BPS // efficiency_bps)


@dataclass
class MeterState:
    meter_id: int
    key: object
    seq: int = 0
    timestamp: int = 0
    export_wh: int = 0


@dataclass
class Funder:
    """Funds accounts with WATT (via meter readings) and TSL (via the treasury)."""

    system: EnergoSystem
    relayer: Sender
    meters: dict[str, MeterState] = field(default_factory=dict)
    next_meter_id: int = 1000

    @property
    def w3(self) -> Web3:
        return self.system.w3

    def _meter(self, account: str) -> MeterState:
        meter = self.meters.get(account)
        if meter is None:
            key = Account.create()
            meter = MeterState(self.next_meter_id, key)
            self.next_meter_id += 1
            self.system.roles.registrar.transact(
                self.system.ledger.functions.registerMeter(
                    meter.meter_id, key.address, account, 0, RATED_POWER_W, 0, 0
                )
            )
            meter.timestamp = self.w3.eth.get_block("latest")["timestamp"]
            self.meters[account] = meter
        return meter

    def _signed_export(self, account: str, stored_wh: int) -> bytes:
        meter = self._meter(account)
        efficiency = self.system.battery.functions.chargeEfficiencyBps().call()
        exported = export_for(stored_wh, efficiency)
        meter.export_wh += exported
        meter.seq += 1
        now = self.w3.eth.get_block("latest")["timestamp"]
        # the reading must be physically possible: rated power times elapsed time
        min_elapsed = max(1, -(-exported * 3600 // RATED_POWER_W))
        meter.timestamp = max(meter.timestamp + min_elapsed, now)
        # Energy is measured up to no later than the block's time (the skew credits nothing
        # ahead of it): let time pass until the reading's own time.
        if meter.timestamp > now:
            self.w3.provider.make_request("evm_increaseTime", [meter.timestamp - now])
            self.w3.provider.make_request("evm_mine", [])
        reading = MeterReading(meter.meter_id, meter.seq, meter.timestamp, 0, meter.export_wh, 0)
        domain = ReadingDomain(self.w3.eth.chain_id, self.system.ledger.address)
        signed = Account.sign_message(encode_typed_data(full_message=domain.typed_data(reading)), meter.key.key)
        return SignedReading(reading, signed.r, signed.s, signed.v).record()

    def give_watt(self, accounts: str | list[str], wh: int) -> None:
        """Mints ``wh`` Wh of WATT to each account through one batch of signed readings."""
        if isinstance(accounts, str):
            accounts = [accounts]
        for start in range(0, len(accounts), 100):
            chunk = accounts[start:start + 100]
            batch = b"".join(self._signed_export(a, wh) for a in chunk)
            receipt = self.relayer.transact(self.system.ledger.functions.submitReadings(batch))
            accepted = self.system.ledger.events.ReadingAccepted().process_receipt(receipt, errors=DISCARD)
            if len(accepted) != len(chunk):
                rejected = self.system.ledger.events.ReadingRejected().process_receipt(receipt, errors=DISCARD)
                reasons = [RejectReason(r["args"]["reason"]).name for r in rejected]
                raise RuntimeError(f"only {len(accepted)} of {len(chunk)} funding readings were accepted: {reasons}")

    def give_tsl(self, household: Sender, amount: int) -> None:
        """Treasury -> household, then the household deposits it in the battery."""
        tsl, battery = self.system.tsl, self.system.battery
        self.system.roles.treasury.transact(tsl.functions.transfer(household.address, amount))
        household.transact(tsl.functions.approve(battery.address, amount))
        # explicit gas: if the household already holds WATT and no TSL, rent paid in kind
        # can start between estimate and inclusion and cost more than the estimate
        household.transact(battery.functions.deposit(amount), gas=300_000)


def balances(system: EnergoSystem, account: str) -> dict[str, int]:
    battery = system.battery.functions
    return {
        "watt": battery.balanceOf(account).call(),
        "locked_watt": battery.lockedWattOf(account).call(),
        "free_tsl": battery.freeTslOf(account).call(),
        "locked_tsl": battery.lockedTslOf(account).call(),
    }
