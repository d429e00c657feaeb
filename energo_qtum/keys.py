"""Private keys, public keys and Qtum addresses.

On Qtum, ``msg.sender`` of a contract call is the hash160 of the public key that
signed the first input, not the keccak-derived Ethereum address of the same key.
``sender_address`` is the one place that mapping is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve

from .encoding import b58check_decode, b58check_encode, hash160, strip_0x
from .errors import InvalidAddressError, InvalidKeyError, QtumError
from .networks import NETWORKS, QtumNetwork, get_network

_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class PrivateKeyMaterial:
    secret: bytes
    compressed: bool  # whether the public key is serialized in 33 bytes (it decides the address)
    wif_version: int | None  # the network byte of a WIF key; None for hex keys


@dataclass(frozen=True)
class QtumAddress:
    address: str  # base58check, "Q..." on mainnet, "q..." on testnet and regtest
    hex: str  # the 20-byte hash160, lowercase, no 0x: what Janus and the EVM see

    def as_dict(self) -> dict[str, str]:
        return {"address": self.address, "hex": self.hex}


def parse_private_key(privkey: str) -> PrivateKeyMaterial:
    """Read 64 hex digits (compressed public key) or WIF (its own compression flag)."""
    if not isinstance(privkey, str) or not privkey.strip():
        raise InvalidKeyError("private key is empty")
    text = privkey.strip()
    hex_text = strip_0x(text)
    if len(hex_text) == 64 and all(c in "0123456789abcdefABCDEF" for c in hex_text):
        material = PrivateKeyMaterial(bytes.fromhex(hex_text), compressed=True, wif_version=None)
    else:
        material = _parse_wif(text)
    if not 0 < int.from_bytes(material.secret, "big") < _SECP256K1_ORDER:
        raise InvalidKeyError("private key is out of the secp256k1 range")
    return material


def _parse_wif(text: str) -> PrivateKeyMaterial:
    try:
        payload = b58check_decode(text)
    except QtumError:
        raise InvalidKeyError("private key is neither 64 hex digits nor a valid WIF string") from None
    known_versions = {network.wif_version for network in NETWORKS.values()}
    if payload[0] not in known_versions:
        raise InvalidKeyError(f"WIF version byte 0x{payload[0]:02x} is not a Qtum network's")
    if len(payload) == 34 and payload[33] == 0x01:
        return PrivateKeyMaterial(payload[1:33], compressed=True, wif_version=payload[0])
    if len(payload) == 33:
        return PrivateKeyMaterial(payload[1:33], compressed=False, wif_version=payload[0])
    raise InvalidKeyError("WIF payload has the wrong length or compression flag")


def hex_to_base58(hex_address: str, network: str | QtumNetwork) -> str:
    net = get_network(network)
    try:
        raw = bytes.fromhex(strip_0x(hex_address))
    except ValueError:
        raise InvalidAddressError(f"{hex_address!r} is not hex") from None
    if len(raw) != 20:
        raise InvalidAddressError(f"a hash160 address is 20 bytes, {hex_address!r} is {len(raw)}")
    return b58check_encode(bytes([net.pubkeyhash_version]) + raw)


def base58_to_hex(address: str, network: str | QtumNetwork | None = None) -> str:
    """Base58 address to its hash160 hex; with a network, its version byte must match."""
    payload = b58check_decode(address)
    if len(payload) != 21:
        raise InvalidAddressError(f"{address!r} does not hold a 20-byte hash160")
    versions = {net.pubkeyhash_version for net in NETWORKS.values()}
    if payload[0] not in versions:
        raise InvalidAddressError(f"{address!r} is not a Qtum P2PKH address")
    if network is not None and payload[0] != get_network(network).pubkeyhash_version:
        raise InvalidAddressError(f"{address!r} is not an address of {get_network(network).name}")
    return payload[1:].hex()


class QtumSigner:
    """A private key bound to a network: its Qtum identity and its ECDSA signatures."""

    def __init__(self, privkey: str, network: str | QtumNetwork = "regtest"):
        self.network = get_network(network)
        material = parse_private_key(privkey)
        if material.wif_version is not None and material.wif_version != self.network.wif_version:
            raise InvalidKeyError(f"this WIF key is not for {self.network.name}")
        self._key = coincurve.PrivateKey(material.secret)
        self.public_key: bytes = self._key.public_key.format(compressed=material.compressed)
        self.hash160: bytes = hash160(self.public_key)

    @property
    def hex_address(self) -> str:
        return self.hash160.hex()

    @property
    def address(self) -> str:
        return b58check_encode(bytes([self.network.pubkeyhash_version]) + self.hash160)

    def qtum_address(self) -> QtumAddress:
        return QtumAddress(self.address, self.hex_address)

    def sign_digest(self, digest: bytes) -> bytes:
        """DER signature of a 32-byte digest: RFC6979 nonce, low S (libsecp256k1)."""
        return self._key.sign(digest, hasher=None)

    def __repr__(self) -> str:  # never show the secret
        return f"QtumSigner({self.address}, {self.network.name})"


def sender_address(privkey: str, network: str | QtumNetwork) -> QtumAddress:
    """The address a key signs as on Qtum: hash160 of its public key, per network."""
    return QtumSigner(privkey, network).qtum_address()
