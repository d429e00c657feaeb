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


def gateway_settings(w3: Web3, system, directory: Path, meters: int = 2, register: bool = True,
                     interval_s: float = 0.2, confirmations: int = 1, first_meter_id: int = 100,
                     source: dict | None = None, rpc_url: str | None = None, rated_power_w: int = 50_000,
                     initial_import_wh: int = 0, gateway_key: bool = False, **sections):
    """A gateway's settings (a dict, as in gateway.toml) with fresh keys in `directory`;
    the sender is funded and, unless register=False, the meters are registered. With
    gateway_key, the meters have no key of their own: the sender's key signs for them."""
    sender_keystore, sender_key, sender = make_key(directory, "sender")
    fund(w3, sender)
    passfile = directory / "passphrase"
    meter_entries, meter_keys = [], {}
    for index in range(meters):
        meter_id = first_meter_id + index
        if gateway_key:
            keystore, key, signer = None, sender_key, sender
        else:
            keystore, key, signer = make_key(directory, f"meter-{meter_id}")
        meter_keys[meter_id] = key
        if register:
            register_meter(system, meter_id, signer, w3.eth.accounts[6 + index % 10], rated_power_w=rated_power_w,
                           import_wh=initial_import_wh)
        meter_entries.append({
            "id": meter_id,
            **({"key": {"keystore": str(keystore), "passphrase_file": str(passfile)}} if keystore else {}),
            "interval_s": interval_s,
            "source": source or {"type": "simulated_household", "seed": meter_id},
        })
    settings = {
        "chain": {"rpc_url": rpc_url or w3.provider.endpoint_uri, "chain_id": 8890,
                  "ledger_address": system.ledger.address, "confirmations": confirmations,
                  "poll_interval_s": 0.05, "resend_after_s": 2.0, "rpc_timeout_s": 5.0},
        "sender": {"keystore": str(sender_keystore), "passphrase_file": str(passfile)},
        "outbox": {"path": str(directory / "outbox.sqlite")},
        "batch": {"max_readings": 50, "max_delay_s": 0.2, "drain_timeout_s": 10.0},
        "failures": {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, "max_consecutive": 20},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "log": {"format": "json", "level": "debug"},
        "meters": meter_entries,
    }
    for name, values in sections.items():
        settings[name] = {**settings.get(name, {}), **values} if isinstance(values, dict) else values
    return settings, {"dir": directory, "sender": sender, "sender_key": sender_key, "meter_keys": meter_keys}


def wait_outbox(path, timeout: float = 30):
    """A read-only view of a daemon's outbox, once the daemon has created it."""
    from oracle.outbox import Outbox

    def ready():
        if not Path(path).exists():
            return None
        outbox = Outbox(path, read_only=True)
        try:
            if outbox.get_meta("schema_version") is not None:
                return outbox
        except Exception:
            pass
        outbox.close()
        return None

    return wait_for(ready, timeout, f"the outbox {path}")
