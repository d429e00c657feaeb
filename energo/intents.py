"""Signed household intents for the markets (interfaces/IMarketIntents.sol).

A household signs EIP-712 typed data; anyone relays it with `placeOrdersFor` /
`cancelOrdersFor`. This module builds the typed data exactly as the contracts hash it, in
the shape wallets take (`eth_signTypedData_v4`: the message with the domain and the
types), signs it with a local key (tests, scripts, a relayer's own checks) and gives the
ABI tuples of the batch entry points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from energo.errors import EnergoError
from energo.facts import Side
from energo.readings import EIP712_TYPES

DOMAIN_NAME = "Energo Market"
DOMAIN_VERSION = "1"

_DOMAIN_FIELDS = EIP712_TYPES["EIP712Domain"]
PLACE_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "side", "type": "uint8"},
    {"name": "price", "type": "uint256"},
    {"name": "amountWh", "type": "uint256"},
    {"name": "expiresAt", "type": "uint256"},
    {"name": "immediateOrCancel", "type": "bool"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
CANCEL_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "orderId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


class IntentError(EnergoError, ValueError):
    """An intent that cannot be signed or relayed as given."""


@dataclass(frozen=True)
class PlaceIntent:
    account: str
    side: Side
    price: int
    amount_wh: int
    nonce: int
    deadline: int
    expires_at: int = 0
    immediate_or_cancel: bool = False

    primary_type = "PlaceOrder"
    type_fields = PLACE_FIELDS

    def message(self) -> dict[str, Any]:
        return {"account": to_checksum_address(self.account), "side": int(self.side), "price": self.price,
                "amountWh": self.amount_wh, "expiresAt": self.expires_at,
                "immediateOrCancel": self.immediate_or_cancel, "nonce": self.nonce, "deadline": self.deadline}

    def as_tuple(self) -> tuple:
        """IMarketIntents.PlaceIntent, in field order."""
        m = self.message()
        return (m["account"], m["side"], m["price"], m["amountWh"], m["expiresAt"], m["immediateOrCancel"],
                m["nonce"], m["deadline"])


@dataclass(frozen=True)
class CancelIntent:
    account: str
    order_id: int
    nonce: int
    deadline: int

    primary_type = "CancelOrder"
    type_fields = CANCEL_FIELDS

    def message(self) -> dict[str, Any]:
        return {"account": to_checksum_address(self.account), "orderId": self.order_id, "nonce": self.nonce,
                "deadline": self.deadline}

    def as_tuple(self) -> tuple:
        m = self.message()
        return (m["account"], m["orderId"], m["nonce"], m["deadline"])


Intent = PlaceIntent | CancelIntent


@dataclass(frozen=True)
class MarketDomain:
    chain_id: int
    market: str

    def as_eip712(self) -> dict[str, Any]:
        return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                "verifyingContract": to_checksum_address(self.market)}

    def typed_data(self, intent: Intent) -> dict[str, Any]:
        """Full typed data for eth-account, ethers' `signTypedData` (drop `EIP712Domain`
        from `types` there) or a wallet's `eth_signTypedData_v4`."""
        return {"types": {"EIP712Domain": _DOMAIN_FIELDS, intent.primary_type: intent.type_fields},
                "primaryType": intent.primary_type, "domain": self.as_eip712(), "message": intent.message()}

    def digest(self, intent: Intent) -> bytes:
        """The 32-byte EIP-712 digest (what `placeDigest` / `cancelDigest` return)."""
        message = encode_typed_data(full_message=self.typed_data(intent))
        return keccak(b"\x19" + message.version + message.header + message.body)

    def sign(self, private_key: bytes, intent: Intent) -> tuple[int, bytes, bytes]:
        """(v, r, s) as the batch entry points take a Signature."""
        account = Account.from_key(private_key)
        if account.address != to_checksum_address(intent.account):
            raise IntentError(f"the key is {account.address}'s, but the intent acts for {intent.account}")
        signed = Account.sign_message(encode_typed_data(full_message=self.typed_data(intent)), private_key)
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")

    def recover(self, intent: Intent, signature: tuple[int, bytes, bytes]) -> str:
        v, r, s = signature
        message = encode_typed_data(full_message=self.typed_data(intent))
        return Account.recover_message(message, vrs=(v, int.from_bytes(r, "big"), int.from_bytes(s, "big")))


def signature_from_hex(signature: str) -> tuple[int, bytes, bytes]:
    """A 65-byte `0x` r ‖ s ‖ v signature, as wallets return it, as (v, r, s)."""
    raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
    if len(raw) != 65:
        raise IntentError(f"a signature is 65 bytes (r, s, v), got {len(raw)}")
    v = raw[64] + 27 if raw[64] < 27 else raw[64]
    return v, raw[:32], raw[32:64]

