"""Secrets: keystores and passphrase files owner-only (the daemon refuses looser ones),
the outbox owner-only, the passphrase from systemd's LoadCredential=."""

from __future__ import annotations

import stat
from pathlib import Path

from daemon_process import DaemonProcess
from oracle_helpers import PASSPHRASE, wait_for

from oracle.config import KeyRef, load_settings
from oracle.daemon import Daemon
from oracle.keys import load_keys


def test_a_group_readable_sender_key_is_refused_with_the_fix(create_gateway):
    raw, info = create_gateway(meters=1)
    Path(raw["sender"]["keystore"]).chmod(0o640)
    daemon = DaemonProcess(raw, info["dir"]).start()
    assert daemon.wait(60) == 2
    error = daemon.events()[-1]["error"]
    assert "sender.json" in error and "0640" in error and "chmod 600" in error


def test_a_world_readable_passphrase_parks_its_meter_and_the_outbox_is_owner_only(create_gateway, system, tmp_path):
    raw, info = create_gateway(meters=2)
    loose = info["dir"] / "loose-passphrase"
    loose.write_text(PASSPHRASE)
    loose.chmod(0o644)
    raw["meters"][1]["key"]["passphrase_file"] = str(loose)
    daemon = Daemon(load_settings(None, **raw))
    daemon.start()
    try:
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 1, 60, "meter 100 going on")
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert "readable or writable by group or others" in daemon.parked[101]
    outbox = Path(raw["outbox"]["path"])
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600


def test_the_passphrase_comes_from_systemd_credentials(tmp_path, monkeypatch):
    from oracle_helpers import make_key

    keystore, key, _ = make_key(tmp_path, "meter")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "passphrase").write_text(PASSPHRASE + "\n")
    monkeypatch.delenv("ENERGO_ORACLE_KEY_PASSPHRASE", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    [loaded] = load_keys([KeyRef(keystore=keystore)])
    assert loaded.private_key == key


def test_the_unit_file_uses_load_credential_and_hardening():
    unit = (Path(__file__).resolve().parents[2] / "deploy/systemd/energo-oracle.service").read_text()
    for line in ("LoadCredential=passphrase:/etc/energo/passphrase", "ProtectSystem=strict", "NoNewPrivileges=true",
                 "Restart=on-failure", "WatchdogSec=", "Type=notify", "UMask=0077", "StartLimitIntervalSec=0"):
        assert line in unit, line
    assert "RestartPreventExitStatus" not in unit, "every failure exit restarts (with backoff)"
