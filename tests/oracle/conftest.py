"""Fixtures of the oracle tests; the chain fixtures come from energo.testing.fixtures."""

from __future__ import annotations

import pytest

from oracle.logs import configure_logging


@pytest.fixture(autouse=True, scope="session")
def _json_logs():
    # Tests read the daemon's log lines as JSON, like journald consumers would.
    configure_logging("json", "debug")


@pytest.fixture
def create_gateway(tmp_path, system, w3):
    """create_gateway(meters=2, ...) -> (settings dict, info): keys made, sender funded,
    household meters registered on the test chain (unless register=False)."""
    from oracle_helpers import fund, make_key, register_meter

    counter = iter(range(1, 1000))

    def create(meters: int = 2, register: bool = True, interval_s: float = 0.2, confirmations: int = 1,
               first_meter_id: int = 100, source: dict | None = None, **sections):
        n = next(counter)
        directory = tmp_path / f"gateway{n}"
        directory.mkdir()
        sender_keystore, sender_key, sender = make_key(directory, "sender")
        fund(w3, sender)
        passfile = directory / "passphrase"
        meter_entries, meter_keys = [], {}
        for index in range(meters):
            meter_id = first_meter_id + index
            keystore, key, signer = make_key(directory, f"meter-{meter_id}")
            meter_keys[meter_id] = key
            if register:
                register_meter(system, meter_id, signer, w3.eth.accounts[6 + index % 10])
            meter_entries.append({
                "id": meter_id,
                "key": {"keystore": str(keystore), "passphrase_file": str(passfile)},
                "interval_s": interval_s,
                "source": source or {"type": "simulated_household", "seed": meter_id},
            })
        settings = {
            "chain": {"rpc_url": w3.provider.endpoint_uri, "chain_id": 8890,
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

    return create
