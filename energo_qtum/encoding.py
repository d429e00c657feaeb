"""Byte-level helpers shared by keys, scripts and transactions: hashes, base58check,
Bitcoin's CompactSize integers and hex parsing."""

from __future__ import annotations

import hashlib

from .errors import InvalidAddressError, InvalidSpecError, TransactionFormatError

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(BASE58_ALPHABET)}


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256, used for txids and signature hashes."""
    return sha256(sha256(data))


def ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL 3 builds may drop the legacy RIPEMD-160 digest
        from Crypto.Hash import RIPEMD160

        return RIPEMD160.new(data).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)): the hash inside Qtum addresses and contract ids."""
    return ripemd160(sha256(data))


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    encoded = ""
    while number:
        number, remainder = divmod(number, 58)
        encoded = BASE58_ALPHABET[remainder] + encoded
    # Each leading zero byte is written as a leading '1'.
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + encoded


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _BASE58_INDEX:
            raise InvalidAddressError(f"'{char}' is not a base58 character (in {text!r})")
        number = number * 58 + _BASE58_INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_ones = len(text) - len(text.lstrip("1"))
    return b"\0" * leading_ones + body


def b58check_encode(payload: bytes) -> str:
    return b58encode(payload + sha256d(payload)[:4])


def b58check_decode(text: str) -> bytes:
    raw = b58decode(text)
    if len(raw) < 5:
        raise InvalidAddressError(f"{text!r} is too short for base58check")
    payload, checksum = raw[:-4], raw[-4:]
    if sha256d(payload)[:4] != checksum:
        raise InvalidAddressError(f"{text!r} has a bad base58check checksum")
    return payload


def encode_varint(value: int) -> bytes:
    """Bitcoin CompactSize: lengths and counts in transactions."""
    if value < 0:
        raise ValueError("CompactSize cannot encode a negative number")
    if value < 0xFD:
        return bytes([value])
    if value <= 0xFFFF:
        return b"\xfd" + value.to_bytes(2, "little")
    if value <= 0xFFFFFFFF:
        return b"\xfe" + value.to_bytes(4, "little")
    return b"\xff" + value.to_bytes(8, "little")


def strip_0x(text: str) -> str:
    return text[2:] if text[:2] in ("0x", "0X") else text


def parse_hex(text: str, what: str, length: int | None = None) -> bytes:
    """Hex (with or without 0x) to bytes, with an error that names the field."""
    if not isinstance(text, str):
        raise InvalidSpecError(f"{what} must be a hex string, got {type(text).__name__}")
    try:
        data = bytes.fromhex(strip_0x(text))
    except ValueError:
        raise InvalidSpecError(f"{what} is not valid hex: {text!r}") from None
    if length is not None and len(data) != length:
        raise InvalidSpecError(f"{what} must be {length} bytes, got {len(data)}")
    return data


class ByteReader:
    """A cursor over bytes for parsing transactions; errors say what ran short."""

    def __init__(self, data: bytes):
        self.data = data
        self.position = 0

    def read(self, count: int, what: str = "bytes") -> bytes:
        end = self.position + count
        if count < 0 or end > len(self.data):
            raise TransactionFormatError(f"unexpected end of data while reading {what}")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def read_uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.read(size, what), "little")

    def read_varint(self, what: str) -> int:
        first = self.read(1, what)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        return self.read_uint(size, what)

    def at_end(self) -> bool:
        return self.position == len(self.data)
