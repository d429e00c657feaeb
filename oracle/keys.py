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
#: The gateway's own default (`keys new`, `keys import`): 16 MiB and ~50 ms to open, so the
#: daemon decrypts it in-process and starts in seconds on a small board. The price: a
#: stolen keystore's passphrase can be guessed 16 times faster than at the standard cost,
#: which the 32-byte random passphrase of the install guide keeps far out of reach
#: (geth's "light" cost is n=2**12). `--scrypt-n 262144` restores the standard cost.
GATEWAY_SCRYPT_N = 2**14
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
    if value is None and ref.passphrase_env is None:
        credential = credential_passphrase_file()
        if credential is not None:
            return credential.read_text().rstrip("\r\n")
    if value is None:
        raise KeystoreError(
            f"no passphrase for {ref.keystore}: set passphrase_file or the environment variable {variable}"
        )
    return value


#: The credential the systemd unit passes with ``LoadCredential=passphrase:...``.
CREDENTIAL_NAME = "passphrase"


def credential_passphrase_file() -> Path | None:
    """$CREDENTIALS_DIRECTORY/passphrase when systemd handed one over (LoadCredential=)."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / CREDENTIAL_NAME
    return path if path.is_file() else None


def passphrase_file_is_private(path: Path) -> bool:
    return not stat.S_IMODE(path.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO)


def secret_files(ref: KeyRef) -> list[Path]:
    """The files holding `ref`'s secret: its keystore and its passphrase file, if any."""
    files = [ref.keystore]
    if ref.passphrase_file is not None:
        files.append(ref.passphrase_file)
    return files


def check_private(ref: KeyRef) -> None:
    """Refuses a keystore or passphrase file that anyone but its owner may read or write."""
    for path in secret_files(ref):
        try:
            private = passphrase_file_is_private(path)
        except OSError as exc:
            raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
        if not private:
            mode = stat.S_IMODE(path.stat().st_mode)
            raise KeystoreError(
                f"{path} is readable or writable by group or others (mode {mode:04o}): refusing to use a secret "
                f"others can read; run: chmod 600 {path} (owned by the daemon's user), or pass the passphrase "
                "with systemd's LoadCredential=")


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
    loaded = load_keys_each(refs)
    for key in loaded:
        if isinstance(key, KeystoreError):
            raise key
    return [key for key in loaded if isinstance(key, LoadedKey)]


def load_keys_each(refs: list[KeyRef], require_private: bool = False) -> list[LoadedKey | KeystoreError]:
    """Decrypts every keystore it can: one bad key is returned as its KeystoreError, in its place,
    so one wrong meter key does not keep the others from starting."""
    results: dict[int, LoadedKey | KeystoreError] = {}
    documents: dict[int, dict] = {}
    passphrases: dict[int, str] = {}
    for i, ref in enumerate(refs):
        try:
            if require_private:
                check_private(ref)
            document = _read_keystore(ref.keystore)
            passphrases[i] = read_passphrase(ref)
            documents[i] = document
        except KeystoreError as exc:
            results[i] = exc
    expensive = [i for i, doc in documents.items() if _kdf_bytes(doc) > IN_PROCESS_KDF_BYTES]
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
    for i in documents:
        ref = refs[i]
        try:
            secret = secrets[i] if i in secrets else _decrypt(documents[i], passphrases[i])
        except Exception as exc:
            secret = exc
        if isinstance(secret, Exception):
            results[i] = KeystoreError(f"cannot decrypt keystore {ref.keystore}: wrong passphrase? ({secret})")
            continue
        address = Account.from_key(secret).address
        recorded = documents[i].get("address")
        if recorded and recorded.lower().removeprefix("0x") != address[2:].lower():
            results[i] = KeystoreError(
                f"keystore {ref.keystore} says address 0x{recorded} but holds the key of {address}")
            continue
        results[i] = LoadedKey(address, secret, ref.keystore)
    return [results[i] for i in range(len(refs))]


def write_keystore(path: Path, private_key: bytes, passphrase: str, scrypt_n: int = GATEWAY_SCRYPT_N) -> str:
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
