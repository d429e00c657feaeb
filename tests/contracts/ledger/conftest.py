"""Ledger test kit: meters with their own keys, readings signed through eth-account's
generic EIP-712 encoder (an independent reference for the contract's digest), batches,
and the decoded outcome of a batch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.logs import DISCARD

from energo.constants import TSL, WATT_PER_WH
from energo.facts import MARKET_ROLE, MarketSettings
from energo.tx import Sender
from energo_deploy.system import EnergoSystem

HOUSEHOLD, BATTERY_METER = 0, 1
REASONS = [
    "None", "UnknownMeter", "MeterRevoked", "BadSignature", "AlreadyApplied", "TimestampNotAfterLast",
    "TimestampInFuture", "RegisterDecreased", "ExceedsRatedPower", "ValueOutOfRange", "BatteryRefused",
]
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
WH = WATT_PER_WH

TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "MeterReading": [
        {"name": "meterId", "type": "uint32"},
        {"name": "seq", "type": "uint32"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "importWh", "type": "uint64"},
        {"name": "exportWh", "type": "uint64"},
        {"name": "stateOfChargeWh", "type": "uint64"},
    ],
}


@dataclass
class Meter:
    meter_id: int
    key: object
    account: str
    kind: int
    rated_power_w: int
    import_wh: int
    export_wh: int
    timestamp: int
    seq: int = 0


def typed_message(chain_id: int, verifying_contract: str, fields: dict):
    return encode_typed_data(full_message={
        "types": TYPES,
        "primaryType": "MeterReading",
        "domain": {"name": "Energo Meter Readings", "version": "1", "chainId": chain_id,
                   "verifyingContract": verifying_contract},
        "message": fields,
    })


def sign_reading(key, chain_id: int, verifying_contract: str, meter_id: int, seq: int, timestamp: int,
                 import_wh: int, export_wh: int, soc: int = 0) -> tuple[int, int, int]:
    message = typed_message(chain_id, verifying_contract, {
        "meterId": meter_id, "seq": seq, "timestamp": timestamp, "importWh": import_wh,
        "exportWh": export_wh, "stateOfChargeWh": soc})
    signed = Account.sign_message(message, private_key=key.key)
    return signed.r, signed.s, signed.v


def pack_record(meter_id, seq, timestamp, import_wh, export_wh, soc, r, s, v) -> bytes:
    return struct.pack(">IIQQQQ32s32sB", meter_id, seq, timestamp, import_wh, export_wh, soc,
                       r.to_bytes(32, "big"), s.to_bytes(32, "big"), v)


class LedgerKit:
    """Registers meters, signs and submits readings, and reads back what happened."""

    def __init__(self, system: EnergoSystem, registrar: Sender, relayer: Sender):
        self.system = system
        self.w3: Web3 = system.w3
        self.ledger = system.ledger
        self.battery = system.battery
        self.registrar = registrar
        self.relayer = relayer
        self.chain_id = self.w3.eth.chain_id
        self._next_id = 1

    def typed_message(self, fields: dict):
        return typed_message(self.chain_id, self.ledger.address, fields)

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def advance(self, seconds: int) -> int:
        """Mines a block exactly `seconds` after the latest one and returns its timestamp."""
        target = self.now() + seconds
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [target])
        self.w3.provider.make_request("evm_mine", [])
        return self.now()

    def register(self, account: str, kind: int = HOUSEHOLD, rated_power_w: int = 10_000, import_wh: int = 0,
                 export_wh: int = 0, meter_id: int | None = None) -> Meter:
        meter_id = meter_id or self._next_id
        self._next_id = max(self._next_id, meter_id) + 1
        key = Account.from_key(Web3.keccak(text=f"meter-{meter_id}-{account}"))
        receipt = self.registrar.transact(self.ledger.functions.registerMeter(
            meter_id, key.address, account, kind, rated_power_w, import_wh, export_wh))
        ts = self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        return Meter(meter_id, key, account, kind, rated_power_w, import_wh, export_wh, ts)

    def record(self, meter: Meter, seq: int, timestamp: int, import_wh: int, export_wh: int, soc: int = 0,
               key=None, chain_id: int | None = None, contract: str | None = None) -> bytes:
        r, s, v = sign_reading(key or meter.key, chain_id or self.chain_id, contract or self.ledger.address,
                               meter.meter_id, seq, timestamp, import_wh, export_wh, soc)
        return pack_record(meter.meter_id, seq, timestamp, import_wh, export_wh, soc, r, s, v)

    def next_record(self, meter: Meter, import_delta: int = 0, export_delta: int = 0, soc: int = 0,
                    timestamp: int | None = None) -> bytes:
        """A good reading that moves the meter on (its local state is updated)."""
        meter.seq += 1
        meter.timestamp = timestamp or max(self.now(), meter.timestamp + 1)
        meter.import_wh += import_delta
        meter.export_wh += export_delta
        return self.record(meter, meter.seq, meter.timestamp, meter.import_wh, meter.export_wh, soc)

    def submit(self, *records: bytes, sender: Sender | None = None) -> dict:
        return (sender or self.relayer).transact(self.ledger.functions.submitReadings(b"".join(records)))

    def outcomes(self, receipt: dict) -> list[tuple[int, int, str]]:
        """(meterId, seq, 'Accepted' or the reject reason), in log order."""
        out = []
        for log in receipt["logs"]:
            if log["address"] != self.ledger.address:
                continue
            for event in (self.ledger.events.ReadingAccepted, self.ledger.events.ReadingRejected):
                try:
                    decoded = event().process_log(log)
                except Exception:  # noqa: BLE001 - not this event
                    continue
                args = decoded["args"]
                reason = "Accepted" if decoded["event"] == "ReadingAccepted" else REASONS[args["reason"]]
                out.append((args["meterId"], args["seq"], reason))
        return out

    def events(self, contract, name: str, receipt: dict) -> list[dict]:
        return [dict(e["args"]) for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]

    def counters(self, account: str) -> dict:
        c = self.battery.functions.countersOf(account).call()
        names = ["generated", "stored", "from_battery", "from_grid", "spilled", "purchased", "sold"]
        return dict(zip(names, c, strict=True))

    def fund(self, treasury: Sender, account: Sender, amount: int = 1_000 * TSL) -> None:
        treasury.transact(self.system.tsl.functions.transfer(account.address, amount))

    def deposit(self, account: Sender, amount: int) -> dict:
        account.transact(self.system.tsl.functions.approve(self.battery.address, amount))
        return account.transact(self.battery.functions.deposit(amount))

    def charge(self, meter: Meter, export_wh: int) -> dict:
        """One accepted reading exporting `export_wh` (time moved on so rated power allows it)."""
        seconds = -(-export_wh * 3600 // meter.rated_power_w) + 1
        self.advance(seconds)
        receipt = self.submit(self.next_record(meter, export_delta=export_wh))
        assert self.outcomes(receipt)[-1][2] == "Accepted"
        return receipt


@pytest.fixture
def kit(system, registrar, relayer) -> LedgerKit:
    return LedgerKit(system, registrar, relayer)


@pytest.fixture
def kit_factory(system, registrar, relayer):
    """A fresh kit each call (a state machine's examples each start from a snapshot)."""
    return lambda registrar_=registrar, relayer_=relayer: LedgerKit(system, registrar_, relayer_)


class PinnedClockSender(Sender):
    """Mines each transaction at the latest block's timestamp, so its gas estimate and its
    execution see the same clock (rent, and so gas, depends on elapsed time); time moves
    only when a test moves it."""

    def transact(self, call, gas=None):
        latest = self.w3.eth.get_block("latest")["timestamp"]
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [latest])
        return super().transact(call, gas)


def _pinned(sender: Sender) -> Sender:
    return PinnedClockSender(sender.w3, sender.account)


# Every ledger test sends on a pinned clock: rent makes gas depend on elapsed time, and
# a gas estimate taken one second before the transaction runs could fall short.
@pytest.fixture(scope="session")
def admin(admin):
    return _pinned(admin)


@pytest.fixture(scope="session")
def treasury(treasury):
    return _pinned(treasury)


@pytest.fixture(scope="session")
def operator(operator):
    return _pinned(operator)


@pytest.fixture(scope="session")
def registrar(registrar):
    return _pinned(registrar)


@pytest.fixture(scope="session")
def relayer(relayer):
    return _pinned(relayer)


@pytest.fixture(scope="session")
def attacker(attacker):
    return _pinned(attacker)


@pytest.fixture(scope="session")
def households(households):
    return [_pinned(h) for h in households]


def impersonated_market(system, admin, w3) -> Sender:
    """A real market contract bound to the battery and granted MARKET_ROLE (the battery
    grants it to nothing else), impersonated on anvil so a test can call the battery's
    hooks as the market with any arguments."""
    settings = MarketSettings()
    contract = admin.deploy(settings.contract, *settings.constructor_args(system.battery.address))
    admin.transact(system.battery.functions.grantRole(MARKET_ROLE, contract.address))
    w3.provider.make_request("anvil_impersonateAccount", [contract.address])
    w3.provider.make_request("anvil_setBalance", [contract.address, hex(10**21)])
    return _pinned(Sender(w3, contract.address))


@pytest.fixture
def market(system, admin, w3) -> Sender:
    """The battery's market hooks called as a market contract (see impersonated_market)."""
    return impersonated_market(system, admin, w3)
