"""The deployment engine on a fresh local chain: fresh deploy, idempotent re-run,
refusal of foreign code at a recorded address, wrong network, and operations that
refuse without the role."""

from __future__ import annotations

import json

import pytest
from web3 import Web3

from energo.facts import MARKET_ROLE, REGISTRAR_ROLE
from energo.tx import Sender
from energo_deploy import DeployConfig, DeploymentError, DeploymentMismatch, Web3Backend, deploy
from energo_deploy.localchain import Anvil
from energo_deploy.operations import OperationRefused, Operations


@pytest.fixture(scope="module")
def chain():
    with Anvil(accounts=6) as node:
        yield node


@pytest.fixture(scope="module")
def config() -> DeployConfig:
    return DeployConfig.from_toml("deploy/local.toml")


@pytest.fixture
def deployer(chain) -> Web3Backend:
    w3 = chain.web3()
    return Web3Backend(Sender(w3, w3.eth.accounts[0]))


def test_fresh_deploy_records_and_wires_everything(deployer, config, tmp_path):
    path = tmp_path / "8890.json"
    result = deploy(deployer, config, path, log=lambda *_: None)

    recorded = json.loads(path.read_text())
    assert recorded["chainId"] == 8890
    assert set(result.deployed) == set(recorded["contracts"]) >= {"TslToken", "SharedBattery", "MeterLedger"}
    contracts = recorded["contracts"]
    w3 = deployer.w3
    assert deployer.call("SharedBattery", contracts["SharedBattery"], "ledger", []) == contracts["MeterLedger"]
    assert deployer.call("MeterLedger", contracts["MeterLedger"], "hasRole", [REGISTRAR_ROLE, deployer.sender])
    assert deployer.call("SharedBattery", contracts["SharedBattery"], "rentPerWattDay", []) == config.rent_per_watt_day
    assert deployer.call("SharedBattery", contracts["SharedBattery"], "capacityWh", []) == config.capacity_wh
    assert deployer.call("TslToken", contracts["TslToken"], "balanceOf", [deployer.sender]) == config.tsl_supply
    markets = [name for name in contracts if name not in ("TslToken", "SharedBattery", "MeterLedger")]
    for market in markets:
        assert deployer.call("SharedBattery", contracts["SharedBattery"], "hasRole", [MARKET_ROLE, contracts[market]])
    for address in contracts.values():
        assert len(w3.eth.get_code(address)) > 0


def test_rerun_is_idempotent(deployer, config, tmp_path):
    path = tmp_path / "8890.json"
    first = deploy(deployer, config, path, log=lambda *_: None)
    nonce = deployer.w3.eth.get_transaction_count(deployer.sender)

    second = deploy(deployer, config, path, log=lambda *_: None)

    assert second.deployed == [] and second.actions == []
    assert set(second.skipped) == set(first.deployed)
    assert deployer.w3.eth.get_transaction_count(deployer.sender) == nonce  # nothing sent
    assert json.loads(path.read_text())["contracts"] == first.contracts


def test_recorded_address_with_other_code_is_refused(deployer, config, tmp_path):
    path = tmp_path / "8890.json"
    deploy(deployer, config, path, log=lambda *_: None)
    data = json.loads(path.read_text())
    data["contracts"]["SharedBattery"] = data["contracts"]["TslToken"]  # someone else's code
    path.write_text(json.dumps(data))

    with pytest.raises(DeploymentMismatch, match="SharedBattery is recorded at .* not SharedBattery's"):
        deploy(deployer, config, path, log=lambda *_: None)


def test_deployments_file_of_another_chain_is_refused(deployer, config, tmp_path):
    path = tmp_path / "deployments.json"
    path.write_text(json.dumps({"chainId": 81, "contracts": {}}))
    with pytest.raises(DeploymentError, match="records chain id 81, but the connected chain is 8890"):
        deploy(deployer, config, path, log=lambda *_: None)


def test_operations_refuse_without_the_role(chain, deployer, config, tmp_path):
    path = tmp_path / "8890.json"
    deploy(deployer, config, path, log=lambda *_: None)
    w3 = deployer.w3
    outsider = Web3Backend(Sender(w3, w3.eth.accounts[5]))
    ops = Operations.connect(outsider, path)
    household = w3.eth.accounts[4]

    with pytest.raises(OperationRefused, match="lacks REGISTRAR_ROLE on MeterLedger"):
        ops.register_meter(1, household, household, "household", 5_000)
    with pytest.raises(OperationRefused, match="lacks DEFAULT_ADMIN_ROLE"):
        ops.pause()
    with pytest.raises(OperationRefused, match="lacks DEFAULT_ADMIN_ROLE"):
        ops.set_rent_rate(1)
    with pytest.raises(OperationRefused, match="holds 0 TSL"):
        ops.fund_household(household, 5)

    # the role holder succeeds with the same calls
    owner = Operations.connect(deployer, path)
    owner.register_meter(1, household, household, "household", 5_000)
    meter = deployer.call("MeterLedger", owner.address("MeterLedger"), "meter", [1])
    assert Web3.to_checksum_address(meter[0]) == household
    owner.fund_household(household, 5)
    assert deployer.call("TslToken", owner.address("TslToken"), "balanceOf", [household]) == 5 * 10**18
    assert set(owner.pause()) >= {"SharedBattery", "MeterLedger"}
    assert owner.pause() == []  # already paused: nothing sent


def test_bad_config_names_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[market]\nmode = "barter"\n')
    with pytest.raises(DeploymentError, match="market.mode must be 'continuous' or 'auction'"):
        DeployConfig.from_toml(bad)
    bad.write_text('[battery]\ncapacity_kwh = "lots"\n')
    with pytest.raises(DeploymentError, match="battery.capacity_kwh: 'lots' is not a number"):
        DeployConfig.from_toml(bad)
    bad.write_text('[batery]\n')
    with pytest.raises(DeploymentError, match=r"unknown section\(s\) \['batery'\]"):
        DeployConfig.from_toml(bad)


def test_misspelt_key_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[battery]\ncapcity_kwh = 900\n')
    with pytest.raises(DeploymentError, match=r"battery\.capcity_kwh: unknown key; battery takes \[.*'capacity_kwh'"):
        DeployConfig.from_toml(bad)
    bad.write_text('[market]\nmode = "auction"\nround_lenght_s = 60\n')
    with pytest.raises(DeploymentError, match=r"market\.round_lenght_s: unknown key"):
        DeployConfig.from_toml(bad)


def test_local_config_reads_as_the_defaults():
    # deploy/local.toml spells out every default in human units: reading it gives them back exactly
    assert DeployConfig.from_toml("deploy/local.toml") == DeployConfig()
