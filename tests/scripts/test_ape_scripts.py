"""`ape run deploy` and `ape run ops` as an operator runs them: real Ape, real anvil."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energo_deploy.localchain import Anvil

ROOT = Path(__file__).resolve().parents[2]
APE = str(Path(sys.executable).with_name("ape"))


@pytest.fixture(scope="module")
def chain():
    with Anvil(accounts=6) as node:
        yield node


def ape(chain, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, ENERGO_LOCAL_RPC_URL=chain.url, SOLCX_BINARY_PATH=str(ROOT / ".cache" / "solcx"))
    return subprocess.run([APE, "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_ape_deploy_then_rerun_then_ops(chain, tmp_path):
    deployments = tmp_path / "8890.json"
    common = ["--network", "qtum:local", "--deployments", str(deployments)]

    first = ape(chain, "deploy", *common, "--account", "TEST::0", "--config", "deploy/local.toml", "--yes")
    assert first.returncode == 0, first.stderr + first.stdout
    recorded = json.loads(deployments.read_text())["contracts"]
    assert {"TslToken", "SharedBattery", "MeterLedger"} <= set(recorded)
    assert "deployed" in first.stdout

    again = ape(chain, "deploy", *common, "--account", "TEST::0", "--config", "deploy/local.toml", "--yes")
    assert again.returncode == 0, again.stderr + again.stdout
    assert "0 deployed" in again.stdout
    assert json.loads(deployments.read_text())["contracts"] == recorded

    household = chain.web3().eth.accounts[4]
    refused = ape(chain, "ops", "register-meter", *common, "--account", "TEST::5", "--meter-id", "9",
                  "--signer", household, "--household", household, "--rated-power-w", "5000", "--new-meter")
    assert refused.returncode != 0
    assert "lacks REGISTRAR_ROLE on MeterLedger" in refused.stderr + refused.stdout

    allowed = ape(chain, "ops", "register-meter", *common, "--account", "TEST::0", "--meter-id", "9",
                  "--signer", household, "--household", household, "--rated-power-w", "5000", "--new-meter")
    assert allowed.returncode == 0, allowed.stderr + allowed.stdout
    assert "registered meter 9" in allowed.stdout


def test_ape_deploy_and_ops_to_qtum_with_a_local_keystore(tmp_path):
    """`ape run deploy --qtum-keystore` on qtum:regtest, through the Janus test double (no
    Qtum node runs here): Qtum transactions signed with the operator's encrypted key."""
    from energo_testkit.janus_double import JanusTestDouble

    from energo_qtum import QtumSigner
    from oracle.keys import write_keystore

    key = bytes.fromhex("5a" * 32)
    signer = QtumSigner(key.hex(), "regtest")
    write_keystore(tmp_path / "operator.json", key, "operator passphrase", scrypt_n=2**10)
    deployments = tmp_path / "8890.json"
    with JanusTestDouble() as double:
        for _ in range(8):
            double.fund(signer.hex_address, 20 * 10**8)
        env = dict(os.environ, QTUM_REGTEST_JANUS_URL=double.url, ENERGO_KEYSTORE_PASSPHRASE="operator passphrase",
                   SOLCX_BINARY_PATH=str(ROOT / ".cache" / "solcx"))
        common = ["--network", "qtum:regtest", "--qtum-keystore", str(tmp_path / "operator.json"),
                  "--deployments", str(deployments)]
        deployed = subprocess.run([APE, "run", "deploy", *common, "--config", "deploy/local.toml", "--yes"],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        hash160 = "0x" + signer.hex_address
        assert f"from {hash160}".lower() in deployed.stdout.lower()  # the sender Qtum sees
        assert "4 deployed" in deployed.stdout
        recorded = json.loads(deployments.read_text())["contracts"]

        registered = subprocess.run([APE, "run", "ops", "register-meter", *common, "--meter-id", "5",
                                     "--signer", hash160, "--household", hash160, "--rated-power-w", "5000",
                                     "--new-meter"],
                                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert registered.returncode == 0, registered.stderr + registered.stdout
        from web3 import HTTPProvider, Web3

        from energo.tx import contract_at
        ledger = contract_at(Web3(HTTPProvider(double.anvil_url)), "MeterLedger", recorded["MeterLedger"])
        assert ledger.functions.meter(5).call()[1] == Web3.to_checksum_address(hash160)
