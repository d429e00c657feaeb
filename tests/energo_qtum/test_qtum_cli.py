"""energo-qtum as a subprocess: JSON on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COIN = 100_000_000


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "energo_qtum", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["address", "--privkey", "not-a-key", "--network", "mainnet"], None, "neither 64 hex digits nor a valid WIF"),
        (["address", "--privkey", "00" * 32], None, "out of the secp256k1 range"),
        (["contract-address", "--txid", "abcd", "--vout", "0"], None, "txid must be 32 bytes"),
        (["sign"], "{not json", "stdin is not valid JSON"),
        (["sign"], json.dumps({"network": "regtest"}), "spec is missing 'privkey'"),
        (
            ["sign"],
            json.dumps({"network": "moonnet", "privkey": "11" * 32, "inputs": [], "outputs": []}),
            "unknown Qtum network",
        ),
        (
            ["balance", "--address", "qUbxboqjBRp96j3La8D1RYkyqx5uQbJPoX", "--janus-url", "http://127.0.0.1:9"],
            None,
            "checksum",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_a_message_and_no_traceback(args, stdin, message):
    completed = run(*args, stdin=stdin)
    assert completed.returncode != 0
    assert completed.stdout == ""
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_sign_refuses_a_low_gas_price_before_signing():
    spec = {
        "network": "regtest",
        "privkey": "0362b1036c27ea9083b267677f50e6a6354493d72ad89048ac6eb40d7bb30a31",
        "inputs": [
            {"txid": "11" * 32, "vout": 0, "script_pubkey": "76a9149e032d4b0090a11dc40fe6c47601499a35d55fbb88ac"}
        ],
        "outputs": [{"type": "call", "contract": "22" * 20, "data": "", "gas_limit": 100000, "gas_price": 39}],
    }
    completed = run("sign", stdin=json.dumps(spec))
    assert completed.returncode == 1 and "gas price 39" in completed.stderr


def test_unreachable_janus_is_reported():
    completed = run(
        "utxos", "--address", "7926223070547d2d15b2ef5e7383e541c338ffe9", "--janus-url", "http://127.0.0.1:9"
    )
    assert completed.returncode == 1 and "cannot reach" in completed.stderr


def test_balance_and_utxos_against_the_double(janus_double, operator):
    utxos = json.loads(run("utxos", "--address", operator.address, "--janus-url", janus_double.url).stdout)
    assert utxos["hex"] == operator.hex_address
    assert [u["value_sat"] for u in utxos["utxos"]] == [10 * COIN]
    balance = json.loads(run("balance", "--address", operator.hex_address, "--janus-url", janus_double.url).stdout)
    assert balance == {
        "hex": operator.hex_address,
        "balance_sat": 10 * COIN,
        "balance_qtum": "10.00000000",
        "spendable_sat": 10 * COIN,
        "spendable_qtum": "10.00000000",
    }
