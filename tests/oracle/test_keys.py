"""Keystores: eth-account's format, passphrase from file or env, and the `keys` CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account
from oracle_helpers import PASSPHRASE, TEST_SCRYPT_N, make_key

from oracle.cli import main
from oracle.config import KeyRef
from oracle.errors import KeystoreError
from oracle.keys import load_keys, read_passphrase, write_keystore

KEY = bytes.fromhex("4c0883a69102937d6231471b5decb208bf4bcc1fe5d9a0c6a2c17d3f0b5a5d13")


def test_keystore_round_trip_with_passphrase_file(tmp_path):
    keystore, _, address = make_key(tmp_path, "meter", KEY)
    assert oct(keystore.stat().st_mode & 0o777) == "0o600"
    document = json.loads(keystore.read_text())
    assert document["crypto"]["kdf"] == "scrypt"
    assert Account.decrypt(document, PASSPHRASE) == KEY  # plain eth-account can read it
    [loaded] = load_keys([KeyRef(keystore=keystore, passphrase_file=tmp_path / "passphrase")])
    assert (loaded.address, loaded.private_key) == (address, KEY)


def test_passphrase_from_environment(tmp_path, monkeypatch):
    keystore, _, _ = make_key(tmp_path, "meter", KEY)
    monkeypatch.setenv("METER_PASS", PASSPHRASE)
    assert read_passphrase(KeyRef(keystore=keystore, passphrase_env="METER_PASS")) == PASSPHRASE
    monkeypatch.setenv("ENERGO_ORACLE_KEY_PASSPHRASE", PASSPHRASE)
    assert load_keys([KeyRef(keystore=keystore)])[0].private_key == KEY


def test_wrong_or_missing_passphrase_names_the_keystore(tmp_path, monkeypatch):
    keystore, _, _ = make_key(tmp_path, "meter", KEY)
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    with pytest.raises(KeystoreError, match="cannot decrypt keystore .*meter.json"):
        load_keys([KeyRef(keystore=keystore, passphrase_file=wrong)])
    monkeypatch.delenv("ENERGO_ORACLE_KEY_PASSPHRASE", raising=False)
    with pytest.raises(KeystoreError, match="no passphrase for .*meter.json"):
        load_keys([KeyRef(keystore=keystore)])
    with pytest.raises(KeystoreError, match="cannot read keystore"):
        load_keys([KeyRef(keystore=tmp_path / "absent.json", passphrase_file=wrong)])


def test_standard_cost_keystore_is_decrypted_out_of_process(tmp_path):
    # n=2**15 is above the in-process limit (32 MiB) yet quick enough for a test.
    keystore = tmp_path / "big.json"
    write_keystore(keystore, KEY, PASSPHRASE, scrypt_n=2**15)
    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE)
    [loaded] = load_keys([KeyRef(keystore=keystore, passphrase_file=passfile)])
    assert loaded.private_key == KEY


def test_existing_keystore_is_never_overwritten(tmp_path):
    keystore, _, _ = make_key(tmp_path, "meter", KEY)
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        write_keystore(keystore, KEY, PASSPHRASE, scrypt_n=TEST_SCRYPT_N)


def test_cli_keys_new_import_and_address(tmp_path):
    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE + "\n")
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "new", "--out", str(tmp_path / "new.json"),
                                   "--passphrase-file", str(passfile), "--scrypt-n", str(TEST_SCRYPT_N)])
    assert created.exit_code == 0, created.output
    address = created.output.strip()
    assert address.startswith("0x") and len(address) == 42
    shown = runner.invoke(main, ["keys", "address", str(tmp_path / "new.json")])
    assert shown.output.strip() == address

    imported = runner.invoke(main, ["keys", "import", "--out", str(tmp_path / "imp.json"),
                                    "--passphrase-file", str(passfile), "--scrypt-n", str(TEST_SCRYPT_N)],
                             input="0x" + KEY.hex() + "\n")
    assert imported.exit_code == 0, imported.output
    assert imported.output.strip() == Account.from_key(KEY).address

    bad = runner.invoke(main, ["keys", "import", "--out", str(tmp_path / "bad.json"),
                               "--passphrase-file", str(passfile)], input="0x1234\n")
    assert bad.exit_code == 1
    assert "32 bytes of hex" in bad.output


def test_cli_keys_default_cost_is_opened_in_the_daemon_itself(tmp_path):
    """The gateway's default keystore (16 MiB of scrypt) is decrypted in-process: no
    256-MiB worker at start-up (the 150-MB start-up bar)."""
    from oracle.keys import IN_PROCESS_KDF_BYTES

    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE + "\n")
    created = CliRunner().invoke(main, ["keys", "new", "--out", str(tmp_path / "gw.json"),
                                        "--passphrase-file", str(passfile)])
    assert created.exit_code == 0, created.output
    params = json.loads((tmp_path / "gw.json").read_text())["crypto"]["kdfparams"]
    assert params["n"] == 2**14
    assert 128 * params["r"] * params["n"] <= IN_PROCESS_KDF_BYTES
