"""`ape run deploy` and `ape run ops` as an operator runs them: real Ape, real anvil."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energo.localchain import Anvil

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
                  "--signer", household, "--household", household, "--rated-power-w", "5000")
    assert refused.returncode != 0
    assert "lacks REGISTRAR_ROLE on MeterLedger" in refused.stderr + refused.stdout

    allowed = ape(chain, "ops", "register-meter", *common, "--account", "TEST::0", "--meter-id", "9",
                  "--signer", household, "--household", household, "--rated-power-w", "5000")
    assert allowed.returncode == 0, allowed.stderr + allowed.stdout
    assert "registered meter 9" in allowed.stdout
