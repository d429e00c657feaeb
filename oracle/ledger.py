"""The MeterLedger as the daemon sees it: calldata and views over any Transport.

Calls are encoded and results decoded by the web3.py contract object of the exported
MeterLedger artifact (energo.artifacts.calldata/decode_result), with no node attached,
so a non-EVM transport can carry them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address

from energo.artifacts import calldata, decode_result
from energo.facts import ZERO_ADDRESS
from energo.readings import DOMAIN_NAME, DOMAIN_VERSION, MeterReading, ReadingDomain, SignedBatch
from energo.tx import revert_in_output
from oracle.errors import DeploymentMismatch
from oracle.transport.base import CallReverted, Transport

LEDGER = "MeterLedger"
# A reading nobody will ever submit: only its digest is compared.
_PROBE = MeterReading(meter_id=0xE1E2, seq=1, timestamp=1_700_000_000, import_wh=1, export_wh=2, state_of_charge_wh=3)


def submit_readings_calldata(batch: bytes) -> bytes:
    return calldata(LEDGER, "submitReadings", batch)


def submit_batch_calldata(batch: SignedBatch) -> bytes:
    return calldata(LEDGER, "submitBatch", *batch.args())


@dataclass(frozen=True)
class OnChainMeter:
    meter_id: int
    signer: str
    account: str
    kind: int  # 0 household, 1 battery
    active: bool
    rated_power_w: int
    last_seq: int
    last_timestamp: int
    import_wh: int
    export_wh: int

    @property
    def registered(self) -> bool:
        return self.signer != ZERO_ADDRESS


class LedgerClient:
    def __init__(self, transport: Transport, address: str, chain_id: int):
        self.transport = transport
        self.address = to_checksum_address(address)
        self.domain = ReadingDomain(chain_id, self.address)

    def meter(self, meter_id: int) -> OnChainMeter:
        unknown = OnChainMeter(meter_id, ZERO_ADDRESS, ZERO_ADDRESS, 0, False, 0, 0, 0, 0, 0)
        try:
            raw = self.transport.call(self.address, calldata(LEDGER, "meter", meter_id))
        except CallReverted:  # LedgerUnknownMeter
            return unknown
        # Janus (v0.4.3, pkg/transformer/eth_call.go) answers a revert with its bytes as a
        # successful result: a transport that passes them on must not crash the decoder.
        if revert_in_output(raw) is not None:
            return unknown
        signer, account, kind, active, rated, last_seq, last_ts, imported, exported = decode_result(
            LEDGER, "meter", raw)
        return OnChainMeter(meter_id, signer, account, kind, active, rated, last_seq, last_ts, imported, exported)

    def verify(self, batches: bool = False) -> None:
        """Refuses a chain or a contract that is not the configured MeterLedger; with
        `batches`, also one that does not take gateway-signed batches as this gateway signs them.

        Raises DeploymentMismatch with what differs; TransportUnavailable if the node is
        unreachable (then nothing is known yet).
        """
        served = self.transport.chain_id()
        if served != self.domain.chain_id:
            raise DeploymentMismatch(
                f"the RPC serves chain id {served} but chain.chain_id is {self.domain.chain_id}: wrong node or config"
            )
        if not self.transport.code(self.address):
            raise DeploymentMismatch(f"no contract at chain.ledger_address {self.address} on chain {served}")
        self._verify_domain()
        try:
            battery = decode_result(LEDGER, "battery", self.transport.call(self.address, calldata(LEDGER, "battery")))
        except (CallReverted, DecodingError):
            raise DeploymentMismatch(f"{self.address} has no battery() view: not a MeterLedger") from None
        if to_checksum_address(battery) == ZERO_ADDRESS or not self.transport.code(battery):
            raise DeploymentMismatch(f"MeterLedger {self.address} is bound to no battery contract ({battery})")
        digest = self.reading_digest(_PROBE)
        if digest != self.domain.digest(_PROBE):
            raise DeploymentMismatch(
                f"MeterLedger {self.address} computes a different reading digest than this gateway: "
                "the contract and the gateway disagree on the reading format"
            )
        if batches:
            self._verify_batches()

    def _verify_batches(self) -> None:
        probe = _PROBE.unsigned_record()
        try:
            raw = self.transport.call(self.address, calldata(LEDGER, "batchDigest", probe))
            digest = decode_result(LEDGER, "batchDigest", raw) if revert_in_output(raw) is None else None
        except (CallReverted, DecodingError):
            digest = None
        if digest != self.domain.batch_digest(probe):
            raise DeploymentMismatch(
                f"MeterLedger {self.address} does not take gateway-signed batches as this gateway signs them "
                "(no batchDigest view, or a different digest): give each meter a key of its own ([[meters]].key)"
            )

    def _verify_domain(self) -> None:
        try:
            raw = self.transport.call(self.address, calldata(LEDGER, "eip712Domain"))
            _fields, name, version, chain_id, contract, _salt, _extensions = decode_result(LEDGER, "eip712Domain", raw)
        except CallReverted:
            raise DeploymentMismatch(f"{self.address} has no eip712Domain(): not a MeterLedger") from None
        except DecodingError:  # some other contract's fallback answered
            raise DeploymentMismatch(f"{self.address} answers eip712Domain() oddly: not a MeterLedger") from None
        expected = (DOMAIN_NAME, DOMAIN_VERSION, self.domain.chain_id, self.address)
        found = (name, version, chain_id, to_checksum_address(contract))
        if found != expected:
            raise DeploymentMismatch(
                f"EIP-712 domain of {self.address} is (name={name!r}, version={version!r}, chainId={chain_id}, "
                f"verifyingContract={found[3]}), expected (name={DOMAIN_NAME!r}, version={DOMAIN_VERSION!r}, "
                f"chainId={self.domain.chain_id}, verifyingContract={self.address})"
            )

    def reading_digest(self, reading: MeterReading) -> bytes:
        raw = self.transport.call(self.address, calldata(LEDGER, "readingDigest", reading.as_tuple()))
        return decode_result(LEDGER, "readingDigest", raw)
