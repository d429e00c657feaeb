"""Fixtures for energo_qtum: the Qtum vectors (data/vectors.json), test keys by role, a compiled
probe contract, and a Janus test double (with its own anvil) per test module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from energo_testkit.janus_double import JanusTestDouble

from energo_qtum.keys import QtumSigner

REPO_ROOT = Path(__file__).resolve().parents[2]

# Regtest keys of the test roles (from data/vectors.json, so their addresses are known).
OPERATOR_WIF = "cMbgxCJrTYUqgcmiC1berh5DFrtY1KeU4PXZ6NZxgenniF1mXCRk"
HOUSEHOLD_HEX = "0362b1036c27ea9083b267677f50e6a6354493d72ad89048ac6eb40d7bb30a31"
ATTACKER_HEX = "a22ddec5c567b4488bb00f69b6146c50da2ee883e2c096db098726394d585730"
COIN = 100_000_000


@pytest.fixture(scope="session")
def operator() -> QtumSigner:
    return QtumSigner(OPERATOR_WIF, "regtest")


@pytest.fixture(scope="session")
def household() -> QtumSigner:
    return QtumSigner(HOUSEHOLD_HEX, "regtest")


@pytest.fixture(scope="session")
def attacker() -> QtumSigner:
    return QtumSigner(ATTACKER_HEX, "regtest")


@pytest.fixture(scope="session")
def sender_probe() -> dict:
    """SenderProbe.sol compiled for Cancun with the repo's solc wrapper."""
    source = (Path(__file__).parent / "contracts" / "SenderProbe.sol").read_text()
    standard_input = {
        "language": "Solidity",
        "sources": {"SenderProbe.sol": {"content": source}},
        "settings": {
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["evm.bytecode.object", "evm.methodIdentifiers"]}},
        },
    }
    completed = subprocess.run(
        ["node", str(REPO_ROOT / "tools" / "solc.js"), "--standard-json"],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    output = json.loads(completed.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    contract = output["contracts"]["SenderProbe.sol"]["SenderProbe"]
    return {"bytecode": contract["evm"]["bytecode"]["object"], "selectors": contract["evm"]["methodIdentifiers"]}


@pytest.fixture(scope="module")
def janus_double(operator, household):
    """A fresh double (and anvil) per module: the operator gets 10 QTUM, the household 1."""
    with JanusTestDouble({operator.hex_address: 10 * COIN, household.address: 1 * COIN}) as double:
        yield double
