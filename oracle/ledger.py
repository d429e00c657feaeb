"""The MeterLedger as the daemon sees it: calldata and views over any Transport.

Calls are ABI-encoded here from the interface's signatures (interfaces/IMeterLedger.sol)
rather than through web3 contract objects, so a non-EVM transport can carry them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from energo.readings import DOMAIN_NAME, DOMAIN_VERSION, MeterReading, ReadingDomain
from energo.tx import revert_in_output
from oracle.errors import DeploymentMismatch
from oracle.transport.base import CallReverted, Transport

SUBMIT_READINGS = function_signature_to_4byte_selector("submitReadings(bytes)")
METER = function_signature_to_4byte_selector("meter(uint32)")
READING_DIGEST = function_signature_to_4byte_selector("readingDigest((uint32,uint32,uint64,uint64,uint64,uint64))")
BATTERY = function_signature_to_4byte_selector("battery()")
EIP712_DOMAIN = function_signature_to_4byte_selector("eip712Domain()")
_METER_TUPLE = "(address,address,uint8,bool,uint32,uint32,uint64,uint64,uint64)"
_ZERO = "0x" + "00" * 20
# A reading nobody will ever submit: only its digest is compared.
_PROBE = MeterReading(meter_id=0xE1E2, seq=1, timestamp=1_700_000_000, import_wh=1, export_wh=2, state_of_charge_wh=3)


def submit_readings_calldata(batch: bytes) -> bytes:
    return SUBMIT_READINGS + encode(["bytes"], [batch])


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
        return self.signer != _ZERO


class LedgerClient:
    def __init__(self, transport: Transport, address: str, chain_id: int):
        self.transport = transport
        self.address = to_checksum_address(address)
        self.domain = ReadingDomain(chain_id, self.address)

    def meter(self, meter_id: int) -> OnChainMeter:
        unknown = OnChainMeter(meter_id, _ZERO, _ZERO, 0, False, 0, 0, 0, 0, 0)
        try:
            raw = self.transport.call(self.address, METER + encode(["uint32"], [meter_id]))
        except CallReverted:  # LedgerUnknownMeter
            return unknown
        # Janus (v0.4.3, pkg/transformer/eth_call.go) answers a revert with its bytes as a
        # successful result: a transport that passes them on must not crash the decoder.
        if revert_in_output(raw) is not None:
            return unknown
        (values,) = decode([_METER_TUPLE], raw)
        signer, account, kind, active, rated, last_seq, last_ts, imported, exported = values
        return OnChainMeter(meter_id, to_checksum_address(signer), to_checksum_address(account), kind, active,
                            rated, last_seq, last_ts, imported, exported)

    def verify(self) -> None:
        """Refuses a chain or a contract that is not the configured MeterLedger.

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
            (battery,) = decode(["address"], self.transport.call(self.address, BATTERY))
        except (CallReverted, DecodingError):
            raise DeploymentMismatch(f"{self.address} has no battery() view: not a MeterLedger") from None
        if to_checksum_address(battery) == _ZERO or not self.transport.code(battery):
            raise DeploymentMismatch(f"MeterLedger {self.address} is bound to no battery contract ({battery})")
        digest = self.reading_digest(_PROBE)
        if digest != self.domain.digest(_PROBE):
            raise DeploymentMismatch(
                f"MeterLedger {self.address} computes a different reading digest than this gateway: "
                "the contract and the gateway disagree on the reading format"
            )

    def _verify_domain(self) -> None:
        try:
            raw = self.transport.call(self.address, EIP712_DOMAIN)
            _fields, name, version, chain_id, contract, _salt, _extensions = decode(
                ["bytes1", "string", "string", "uint256", "address", "bytes32", "uint256[]"], raw)
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
        raw = self.transport.call(
            self.address, READING_DIGEST + encode(["(uint32,uint32,uint64,uint64,uint64,uint64)"], [reading.as_tuple()])
        )
        return decode(["bytes32"], raw)[0]
