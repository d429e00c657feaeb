"""Configuration: TOML plus environment; a wrong config is refused naming the field."""

from __future__ import annotations

import pytest
from oracle_helpers import to_toml

from oracle.config import load_settings
from oracle.errors import ConfigError

LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _config(**overrides):
    document = {
        "chain": {"rpc_url": "http://127.0.0.1:8545", "chain_id": 8890, "ledger_address": LEDGER.lower()},
        "sender": {"keystore": "/etc/energo/sender.json", "passphrase_file": "/etc/energo/pass"},
        "outbox": {"path": "/var/lib/energo/outbox.sqlite"},
        "meters": [{"id": 7, "key": {"keystore": "/etc/energo/m7.json"},
                    "source": {"type": "dsmr", "url": "tcp://127.0.0.1:2000"}}],
    }
    for name, value in overrides.items():
        document[name] = {**document.get(name, {}), **value} if isinstance(value, dict) else value
    return document


def _load(tmp_path, document):
    path = tmp_path / "gateway.toml"
    path.write_text(to_toml(document))
    return load_settings(path)


def test_a_complete_config_loads_with_defaults(tmp_path):
    settings = _load(tmp_path, _config())
    assert settings.chain.ledger_address == LEDGER  # checksummed
    assert settings.chain.confirmations == 10  # Qtum's exchange guide
    assert settings.chain.gas_price_wei == 400 * 10**9
    assert settings.batch.max_readings == 50
    assert settings.meters[0].source.type == "dsmr"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGO_ORACLE_CHAIN__CONFIRMATIONS", "1")
    monkeypatch.setenv("ENERGO_ORACLE_BATCH__MAX_DELAY_S", "2.5")
    settings = _load(tmp_path, _config())
    assert settings.chain.confirmations == 1
    assert settings.batch.max_delay_s == 2.5
    assert settings.chain.chain_id == 8890  # untouched fields stay


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"chain": {"chain_id": 0}}, "chain.chain_id"),
        ({"chain": {"ledger_address": "0x1234"}}, "chain.ledger_address"),
        ({"chain": {"confirmations": "ten"}}, "chain.confirmations"),
        ({"batch": {"max_readings": 0}}, "batch.max_readings"),
        ({"failures": {"backoff_initial_s": 5, "backoff_max_s": 1}}, "failures"),
        ({"sender": {"keystore": "/k.json", "passphrase": "hunter2"}}, "sender.passphrase"),
        ({"chain": {"rpc_ulr": "http://x"}}, "chain.rpc_ulr"),
        ({"meters": [{"id": 7, "key": {"keystore": "/a.json"}, "source": {"type": "simulated_household"}},
                     {"id": 7, "key": {"keystore": "/b.json"}, "source": {"type": "simulated_household"}}]},
         "repeated: [7]"),
    ],
)
def test_a_wrong_config_is_refused_naming_the_field(tmp_path, change, named):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, _config(**change))
    assert named in error.value.user_message
    assert error.value.exit_code == 2


def test_passphrases_never_come_from_the_config(tmp_path):
    with pytest.raises(ConfigError, match="secrets such as passphrases never go in the config"):
        _load(tmp_path, _config(sender={"keystore": "/k.json", "passphrase": "hunter2"}))


def test_missing_file_and_broken_toml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[chain\nchain_id = 1\n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings(broken)


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"id": 7, "key": {"keystore": "/m.json"}, "source": {"type": "dsmr", "url": "udp://x"}}, "source"),
        ({"id": 7, "key": {"keystore": "/m.json"}, "source": {"type": "carrier_pigeon"}}, "source"),
        ({"id": 7, "key": {"keystore": "/m.json"}, "interval_s": -1, "source": {"type": "simulated_household"}},
         "interval_s"),
    ],
)
def test_one_invalid_meter_entry_is_set_aside_and_the_others_load(tmp_path, entry, named):
    good = {"id": 8, "key": {"keystore": "/g.json"}, "source": {"type": "simulated_household"}}
    settings = _load(tmp_path, _config(meters=[entry, good]))
    assert [m.id for m in settings.meters] == [8]
    meter_id, message = settings.invalid_meters[0]
    assert meter_id == 7 and "meters[0] is invalid" in message and named in message


def test_an_invalid_meter_entry_given_by_the_environment_is_set_aside(tmp_path, monkeypatch):
    import json

    good = {"id": 8, "key": {"keystore": "/g.json"}, "source": {"type": "simulated_household"}}
    monkeypatch.setenv("ENERGO_ORACLE_METERS", json.dumps([good, {"id": "nine", "source": {"type": "x"}}]))
    settings = _load(tmp_path, _config())
    assert [m.id for m in settings.meters] == [8]
    assert settings.invalid_meters[1][0] is None and "meters[1] is invalid" in settings.invalid_meters[1][1]
