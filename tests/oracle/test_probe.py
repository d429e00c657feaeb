"""`energo-oracle probe`: reads a configured meter (an upstream Sagemcom T210-D telegram
served over TCP as a P1 dongle would) and prints its registers and the exact
registration command; its JSON is what `ape run ops register-meter --probe-json` reads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from dsmr_telegrams import P1Server
from oracle_helpers import make_key, to_toml

from energo_deploy.operations import MeterProbe, check_against_probe
from oracle.cli import main

UPSTREAM = json.loads((Path(__file__).parent / "data" / "dsmr_parser_telegrams.json").read_text())
SAGEMCOM = next(t for t in UPSTREAM["telegrams"] if t["name"] == "TELEGRAM_SAGEMCOM_T210_D_R")


@pytest.fixture
def p1():
    server = P1Server()
    yield server
    server.close()


def _p1_source(port: int, timeout_s: float = 3) -> dict:
    return {"type": "dsmr", "url": f"tcp://127.0.0.1:{port}", "dsmr_version": "sagemcom_t210_d_r",
            "timeout_s": timeout_s}


def _config(tmp_path: Path, source: dict, **chain) -> tuple[Path, str]:
    keystore, _, address = make_key(tmp_path, "meter-1001")
    config = tmp_path / "gateway.toml"
    config.write_text(to_toml({
        "chain": {"chain_id": 8890, "ledger_address": "0x5FbDB2315678afecb367f032d93F642f64180aa3", **chain},
        "sender": {"keystore": str(tmp_path / "sender.json")},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "log": {"format": "json"},
        "meters": [{"id": 1001, "interval_s": 60,
                    "key": {"keystore": str(keystore), "passphrase_file": str(tmp_path / "passphrase")},
                    "source": source}],
    }))
    return config, address


def test_probe_prints_the_registers_and_the_registration_command(tmp_path, p1):
    config, signer = _config(tmp_path, _p1_source(p1.port))
    out = tmp_path / "probe-1001.json"
    threading.Thread(target=p1.send, args=[SAGEMCOM["telegram"].encode()], daemon=True).start()
    result = CliRunner().invoke(main, ["probe", "--config", str(config), "--meter-id", "1001", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "import        6545766 Wh" in result.output and "export        58 Wh" in result.output
    command = result.output[result.output.index("ape run ops register-meter"):]
    for part in ("--network qtum:local", "--meter-id 1001", f"--signer {signer}", "--kind household",
                 "--import-wh 6545766", "--export-wh 58", f"--probe-json {out}"):
        assert part in command, part
    probe = MeterProbe.load(out)  # the registration tooling reads what the probe wrote
    assert (probe.meter_id, probe.import_wh, probe.export_wh, probe.signer) == (1001, 6_545_766, 58, signer)
    check_against_probe(1001, signer, 10_000, 6_545_766, 58, probe, chain_id=8890)  # its own figures pass


def test_probe_json_output_and_an_unknown_meter(tmp_path, p1):
    config, _ = _config(tmp_path, _p1_source(p1.port))
    threading.Thread(target=p1.send, args=[SAGEMCOM["telegram"].encode()], daemon=True).start()
    result = CliRunner().invoke(main, ["probe", "--config", str(config), "--meter-id", "1001", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["import_wh"] == 6_545_766 and document["export_wh"] == 58 and document["source"] == "dsmr"
    unknown = CliRunner().invoke(main, ["probe", "--config", str(config), "--meter-id", "7"])
    assert unknown.exit_code == 2 and "no meter 7 in the configuration" in unknown.output


def test_probe_of_a_meter_that_does_not_answer_fails_saying_why(tmp_path, p1):
    config, _ = _config(tmp_path, _p1_source(p1.port, timeout_s=0.2))
    result = CliRunner().invoke(main, ["probe", "--config", str(config), "--meter-id", "1001"])
    assert result.exit_code != 0
    assert "gave no reading" in result.output and "link_timeout" in result.output


def test_probe_reads_a_sunspec_der_device_and_names_the_qtum_network(tmp_path):
    from test_sunspec import BASE, SunSpecServer, encoded, image

    server = SunSpecServer(image(encoded(1), encoded(701, TotWhAbs=12, TotWhInj=345, TotWh_SF=3)))
    try:
        config, _ = _config(tmp_path, {"type": "sunspec", "profile": "meter", "host": "127.0.0.1",
                                       "port": server.port, "base_address": BASE},
                            transport="qtum", qtum_network="regtest")
        result = CliRunner().invoke(main, ["probe", "--config", str(config), "--meter-id", "1001"])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert "import        12000 Wh" in result.output and "export        345000 Wh" in result.output
    assert "--network qtum:regtest" in result.output
    assert "--import-wh 12000" in result.output and "--export-wh 345000" in result.output
