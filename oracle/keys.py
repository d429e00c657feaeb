"""Meter and sender keys in encrypted keystore files (eth-account's V3 format).

The passphrase is read from a file or an environment variable, never from the config.
Decrypting a standard keystore (scrypt n=2**18) needs 256 MiB for a moment; on a small
gateway serving many meters that spike would be the process's peak memory for months,
so expensive keystores are decrypted in a short-lived worker process instead.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from oracle.config import DEFAULT_PASSPHRASE_ENV, KeyRef
from oracle.errors import KeystoreError

#: eth-account's default scrypt cost (n=2**18, r=8: 256 MiB, about a second).
STANDARD_SCRYPT_N = 2**18
#: Keystores whose KDF needs more memory than this are decrypted out of process.
IN_PROCESS_KDF_BYTES = 16 * 2**20


@dataclass(frozen=True)
class LoadedKey:
    address: str
    private_key: bytes
    keystore: Path


def read_passphrase(ref: KeyRef) -> str:
    """The passphrase for `ref`: its file, its env variable, or ENERGO_ORACLE_KEY_PASSPHRASE."""
    if ref.passphrase_file is not None:
        path = ref.passphrase_file
        try:
            text = path.read_text()
        except OSError as exc:
            raise KeystoreError(f"cannot read passphrase file {path} for {ref.keystore}: {exc.strerror}") from None
        return text.rstrip("\r\n")
    variable = ref.passphrase_env or DEFAULT_PASSPHRASE_ENV
    value = os.environ.get(variable)
    if value is None:
        raise KeystoreError(
            f"no passphrase for {ref.keystore}: set passphrase_file or the environment variable {variable}"
        )
    return value


def passphrase_file_is_private(path: Path) -> bool:
    return not stat.S_IMODE(path.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO)


def _read_keystore(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise KeystoreError(f"keystore {path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or "crypto" not in document and "Crypto" not in document:
        raise KeystoreError(f"{path} is not an encrypted keystore (no 'crypto' section)")
    return document


def _kdf_bytes(document: dict) -> int:
    crypto = document.get("crypto") or document.get("Crypto") or {}
    if crypto.get("kdf") != "scrypt":
        return 0
    params = crypto.get("kdfparams", {})
    return 128 * int(params.get("n", 0)) * int(params.get("r", 8))


def _decrypt(document: dict, passphrase: str) -> bytes:
    return bytes(Account.decrypt(document, passphrase))


def load_keys(refs: list[KeyRef]) -> list[LoadedKey]:
    """Decrypts every keystore; raises KeystoreError naming the file that failed."""
    documents = [_read_keystore(ref.keystore) for ref in refs]
    passphrases = [read_passphrase(ref) for ref in refs]
    expensive = [i for i, doc in enumerate(documents) if _kdf_bytes(doc) > IN_PROCESS_KDF_BYTES]
    secrets: dict[int, bytes | Exception] = {}
    if expensive:
        # spawn, not fork: the caller may already run threads (in-process demo gateways).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(2, len(expensive)), mp_context=context) as pool:
            futures = {i: pool.submit(_decrypt, documents[i], passphrases[i]) for i in expensive}
            for i, future in futures.items():
                try:
                    secrets[i] = future.result()
                except Exception as exc:  # reported below with the file name
                    secrets[i] = exc
    loaded = []
    for i, ref in enumerate(refs):
        try:
            secret = secrets[i] if i in secrets else _decrypt(documents[i], passphrases[i])
        except Exception as exc:
            secret = exc
        if isinstance(secret, Exception):
            raise KeystoreError(f"cannot decrypt keystore {ref.keystore}: wrong passphrase? ({secret})")
        address = Account.from_key(secret).address
        recorded = documents[i].get("address")
        if recorded and recorded.lower().removeprefix("0x") != address[2:].lower():
            raise KeystoreError(f"keystore {ref.keystore} says address 0x{recorded} but holds the key of {address}")
        loaded.append(LoadedKey(address, secret, ref.keystore))
    return loaded


def write_keystore(path: Path, private_key: bytes, passphrase: str, scrypt_n: int = STANDARD_SCRYPT_N) -> str:
    """Encrypts `private_key` into a new keystore file (mode 0600); returns the address."""
    if path.exists():
        raise KeystoreError(f"{path} already exists; refusing to overwrite a key")
    if not passphrase:
        raise KeystoreError("refusing an empty passphrase")
    document = Account.encrypt(private_key, passphrase, kdf="scrypt", iterations=scrypt_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return Account.from_key(private_key).address


def new_key() -> bytes:
    return bytes(Account.create().key)
