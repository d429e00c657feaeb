"""Private key formats, address conversion and their errors."""

from __future__ import annotations

import coincurve
import pytest

from energo_qtum.encoding import b58check_encode, hash160
from energo_qtum.errors import InvalidAddressError, InvalidKeyError, QtumError
from energo_qtum.keys import QtumSigner, base58_to_hex, hex_to_base58, parse_private_key, sender_address

SECRET = bytes.fromhex("a22ddec5c567b4488bb00f69b6146c50da2ee883e2c096db098726394d585730")


def wif(secret: bytes, version: int, compressed: bool) -> str:
    return b58check_encode(bytes([version]) + secret + (b"\x01" if compressed else b""))


def test_wif_compression_flag_decides_the_address():
    compressed = sender_address(wif(SECRET, 0x80, True), "mainnet")
    uncompressed = sender_address(wif(SECRET, 0x80, False), "mainnet")
    public = coincurve.PrivateKey(SECRET).public_key
    assert compressed.hex == hash160(public.format(compressed=True)).hex()
    assert uncompressed.hex == hash160(public.format(compressed=False)).hex()
    assert compressed.address.startswith("Q") and compressed.hex != uncompressed.hex


def test_hex_key_is_compressed_and_same_as_its_wif():
    assert sender_address(SECRET.hex(), "testnet") == sender_address(wif(SECRET, 0xEF, True), "testnet")
    assert sender_address("0x" + SECRET.hex(), "testnet").address.startswith("q")


def test_wif_of_another_network_is_refused():
    with pytest.raises(InvalidKeyError, match="not for mainnet"):
        QtumSigner(wif(SECRET, 0xEF, True), "mainnet")


@pytest.mark.parametrize(
    "bad_key",
    ["", "zz", "00" * 32, "ff" * 32, wif(SECRET, 0x80, True)[:-1] + "x", wif(SECRET, 0x05, True)],
)
def test_invalid_private_keys(bad_key):
    with pytest.raises(InvalidKeyError):
        parse_private_key(bad_key)


def test_signer_repr_does_not_leak_the_secret():
    assert SECRET.hex() not in repr(QtumSigner(SECRET.hex(), "mainnet"))


def test_same_hash160_differs_only_in_version_byte_across_networks():
    hex_address = "7926223070547d2d15b2ef5e7383e541c338ffe9"
    testnet = hex_to_base58(hex_address, "testnet")
    mainnet = hex_to_base58(hex_address, "mainnet")
    assert testnet == hex_to_base58(hex_address, "regtest") == "qUbxboqjBRp96j3La8D1RYkyqx5uQbJPoW"
    assert mainnet.startswith("Q")
    assert base58_to_hex(mainnet) == base58_to_hex(testnet) == hex_address
    with pytest.raises(InvalidAddressError, match="not an address of testnet"):
        base58_to_hex(mainnet, "testnet")


@pytest.mark.parametrize(
    "address",
    ["qUbxboqjBRp96j3La8D1RYkyqx5uQbJPoX", "qUbxboqjBRp96j3La8D1RYkyqx5uQbJPo0", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"],
)
def test_bad_base58_addresses(address):
    with pytest.raises(InvalidAddressError):
        base58_to_hex(address)


def test_errors_share_one_base_with_a_user_message():
    with pytest.raises(QtumError) as caught:
        hex_to_base58("1234", "mainnet")
    assert "20 bytes" in caught.value.user_message
