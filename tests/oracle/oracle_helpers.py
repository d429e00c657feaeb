"""Helpers for the oracle tests: keys, configs, meter registration, polling with deadlines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from energo.readings import READING_ACCEPTED_TOPIC, decode_reading_events
from oracle.keys import write_keystore

TEST_SCRYPT_N = 2**10  # keystores stay real but cheap in tests
PASSPHRASE = "correct horse battery staple"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Polls `predicate` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing polled may not be up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_error})"
                                                                            if last_error else ""))


def make_key(directory: Path, name: str, private_key: bytes | None = None) -> tuple[Path, bytes, str]:
    """A keystore in `directory` plus its passphrase file; returns (keystore, key, address)."""
    key = private_key or bytes(Account.create().key)
    keystore = directory / f"{name}.json"
    address = write_keystore(keystore, key, PASSPHRASE, scrypt_n=TEST_SCRYPT_N)
    passfile = directory / "passphrase"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    return keystore, key, address


def to_toml(document: dict[str, Any]) -> str:
    """Enough TOML for gateway configs: tables, arrays of tables, inline tables, scalars."""

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, (str, Path)):
            return json.dumps(str(value))
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {scalar(v)}" for k, v in value.items()) + " }"
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        raise TypeError(type(value))

    lines: list[str] = []
    for name, value in document.items():
        if not isinstance(value, (dict, list)) or (isinstance(value, list) and value and not isinstance(value[0], dict)):
            lines.append(f"{name} = {scalar(value)}")
    for name, value in document.items():
        if isinstance(value, dict):
            lines.append(f"\n[{name}]")
            lines.extend(f"{k} = {scalar(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"\n[[{name}]]")
                lines.extend(f"{k} = {scalar(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


def fund(w3: Web3, address: str, ether: int = 10_000) -> None:
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": ether * 10**18,
                                  "gasPrice": 400 * 10**9, "type": 0})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.02)


def register_meter(system, meter_id: int, signer: str, account: str, kind: int = 0,
                   rated_power_w: int = 50_000, import_wh: int = 0, export_wh: int = 0) -> None:
    system.roles.registrar.transact(system.ledger.functions.registerMeter(
        meter_id, signer, account, kind, rated_power_w, import_wh, export_wh))


def accepted_readings(w3: Web3, ledger_address: str, from_block: int = 0) -> list:
    """Every ReadingAccepted of the ledger, in chain order."""
    logs = w3.eth.get_logs({"address": ledger_address, "fromBlock": from_block, "toBlock": "latest",
                            "topics": [Web3.to_hex(READING_ACCEPTED_TOPIC)]})
    return list(decode_reading_events(logs, ledger_address))


def all_reading_events(w3: Web3, ledger_address: str, from_block: int = 0) -> list:
    logs = w3.eth.get_logs({"address": ledger_address, "fromBlock": from_block, "toBlock": "latest"})
    return list(decode_reading_events(logs, ledger_address))
