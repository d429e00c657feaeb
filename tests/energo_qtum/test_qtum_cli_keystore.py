"""`energo-qtum address --keystore`: an operator's Qtum address from an encrypted key,
without the raw key ever on the command line."""

import json
import subprocess
import sys

from energo_qtum import sender_address
from oracle.keys import write_keystore

KEY = "2f0b6a0e1a7c4b8d9e3f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809"


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "energo_qtum", *args], capture_output=True, text=True, env=env)


def test_address_from_keystore_matches_the_raw_key(tmp_path):
    (tmp_path / "pw").write_text("a passphrase\n")
    write_keystore(tmp_path / "op.json", bytes.fromhex(KEY), "a passphrase", scrypt_n=2**10)
    out = run("address", "--keystore", str(tmp_path / "op.json"), "--passphrase-file", str(tmp_path / "pw"),
              "--network", "testnet")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == sender_address(KEY, "testnet").as_dict()
    assert json.loads(out.stdout)["address"].startswith("q")


def test_wrong_passphrase_and_missing_key_are_clear_errors(tmp_path):
    (tmp_path / "pw").write_text("not it")
    write_keystore(tmp_path / "op.json", bytes.fromhex(KEY), "a passphrase", scrypt_n=2**10)
    wrong = run("address", "--keystore", str(tmp_path / "op.json"), "--passphrase-file", str(tmp_path / "pw"))
    assert wrong.returncode == 1 and "cannot decrypt" in wrong.stderr and "Traceback" not in wrong.stderr
    neither = run("address")
    assert neither.returncode == 1 and "exactly one of --privkey or --keystore" in neither.stderr
