"""Every Qtum vector (tests/energo_qtum/data), byte for byte, through the library and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from energo_qtum.keys import base58_to_hex, hex_to_base58, sender_address
from energo_qtum.spec import sign_spec
from energo_qtum.tx import contract_address, parse_transaction

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Public Qtum transactions, keys and contract addresses; data/README.md says where each came from.
VECTORS_PATH = Path(__file__).resolve().parent / "data" / "vectors.json"


def load_vectors() -> dict:
    return json.loads(VECTORS_PATH.read_text())


VECTORS = load_vectors()
KEYS = [pytest.param(v, id=v["name"]) for v in VECTORS["keys"]]
TRANSACTIONS = [pytest.param(v, id=v["name"]) for v in VECTORS["transactions"]]
CONTRACT_ADDRESSES = [pytest.param(v, id=v["name"]) for v in VECTORS["contract_addresses"]]


def run_cli(*args: str, stdin: str | None = None) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "energo_qtum", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_every_vector_section_is_present():
    assert VECTORS["keys"] and VECTORS["transactions"] and VECTORS["contract_addresses"]


@pytest.mark.parametrize("vector", KEYS)
def test_key_maps_to_its_qtum_address(vector):
    address = sender_address(vector["privkey"], vector["network"])
    assert address.as_dict() == vector["expected"]
    assert base58_to_hex(vector["expected"]["address"], vector["network"]) == vector["expected"]["hex"]
    assert hex_to_base58(vector["expected"]["hex"], vector["network"]) == vector["expected"]["address"]


@pytest.mark.parametrize("vector", TRANSACTIONS)
def test_spec_signs_to_the_mined_transaction(vector):
    signed = sign_spec(vector["spec"])
    assert signed.raw_hex == vector["expected"]["raw_hex"]
    assert signed.txid == vector["expected"]["txid"]
    # And the bytes parse back to the same transaction.
    assert parse_transaction(bytes.fromhex(signed.raw_hex)).serialize() == bytes.fromhex(signed.raw_hex)


@pytest.mark.parametrize("vector", CONTRACT_ADDRESSES)
def test_contract_address_from_txid_and_vout(vector):
    assert contract_address(vector["txid"], vector["vout"]) == vector["expected"]["address"]


@pytest.mark.parametrize("vector", KEYS)
def test_cli_address(vector):
    assert run_cli("address", "--privkey", vector["privkey"], "--network", vector["network"]) == vector["expected"]


@pytest.mark.parametrize("vector", CONTRACT_ADDRESSES)
def test_cli_contract_address(vector):
    result = run_cli("contract-address", "--txid", vector["txid"], "--vout", str(vector["vout"]))
    assert result == {"address": vector["expected"]["address"]}


@pytest.mark.parametrize("vector", TRANSACTIONS)
def test_cli_sign(vector):
    assert run_cli("sign", stdin=json.dumps(vector["spec"])) == vector["expected"]
