"""The deployment engine on a fresh local chain: fresh deploy, idempotent re-run,
refusal of foreign code at a recorded address, wrong network, and operations that
refuse without the role."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from web3 import Web3

from energo.facts import DEFAULT_ADMIN_ROLE, MARKET_ROLE, PAUSER_ROLE, REGISTRAR_ROLE
from energo.tx import Sender
from energo_deploy import DeployConfig, DeploymentError, DeploymentMismatch, Web3Backend, deploy
from energo_deploy.localchain import Anvil
from energo_deploy.operations import (
    MeterProbe,
    OperationRefused,
    Operations,
    check_against_probe,
    initial_registers,
)


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


def test_admin_and_pauser_go_to_the_configured_admin(chain, deployer, config, tmp_path):
    """M-5: the deployer keeps no role on any contract it deployed: PAUSER_ROLE moves with
    the admin on the battery and the ledger, and the battery's admin through its two-step
    transfer, which the configured admin accepts. Before, the deployer kept PAUSER_ROLE."""
    w3 = deployer.w3
    admin = w3.eth.accounts[1]
    path = tmp_path / "8890.json"
    deploy(deployer, replace(config, admin=admin), path, log=lambda *_: None)
    contracts = json.loads(path.read_text())["contracts"]
    battery, ledger = contracts["SharedBattery"], contracts["MeterLedger"]
    for name in ("SharedBattery", "MeterLedger"):
        assert not deployer.call(name, contracts[name], "hasRole", [PAUSER_ROLE, deployer.sender])
        assert deployer.call(name, contracts[name], "hasRole", [PAUSER_ROLE, admin])
    assert not deployer.call("MeterLedger", ledger, "hasRole", [DEFAULT_ADMIN_ROLE, deployer.sender])
    assert deployer.call("MeterLedger", ledger, "hasRole", [DEFAULT_ADMIN_ROLE, admin])
    assert deployer.call("SharedBattery", battery, "pendingDefaultAdmin", [])[0] == admin

    nonce = w3.eth.get_transaction_count(deployer.sender)
    assert deploy(deployer, replace(config, admin=admin), path, log=lambda *_: None).actions == []
    assert w3.eth.get_transaction_count(deployer.sender) == nonce  # a re-run sends nothing

    w3.provider.make_request("evm_increaseTime", [1])  # the schedule (delay 0) is now past
    w3.provider.make_request("evm_mine", [])
    Operations.connect(Web3Backend(Sender(w3, admin)), path).accept_admin()
    assert deployer.call("SharedBattery", battery, "defaultAdmin", []) == admin
    for name in ("SharedBattery", "MeterLedger"):
        for role in (DEFAULT_ADMIN_ROLE, PAUSER_ROLE):
            assert not deployer.call(name, contracts[name], "hasRole", [role, deployer.sender])
    with pytest.raises(OperationRefused, match="lacks DEFAULT_ADMIN_ROLE"):
        Operations.connect(deployer, path).pause()
    assert set(Operations.connect(Web3Backend(Sender(w3, admin)), path).pause()) == {"SharedBattery", "MeterLedger"}


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


# ---------------------------------------------------------------- commissioning: registers at registration

SIGNER = "0x" + "12" * 20
NOW = 1_800_000_000


def _probe(import_wh=6_545_766, export_wh=58, read_at=NOW - 60, meter_id=1) -> MeterProbe:
    return MeterProbe(meter_id, import_wh, export_wh, read_at, Web3.to_checksum_address(SIGNER), 8890)


def test_registration_without_registers_is_refused_unless_probed_or_new():
    with pytest.raises(OperationRefused, match="the meter's registers are needed: read them with `energo-oracle probe"):
        initial_registers(None, None, None)
    with pytest.raises(OperationRefused, match="its first reading would credit everything it ever counted"):
        initial_registers(0, 0, None)
    assert initial_registers(None, None, None, new_meter=True) == (0, 0)
    assert initial_registers(12_000, 3, None) == (12_000, 3)
    assert initial_registers(None, None, _probe()) == (6_545_766, 58)  # the probe's figures by default
    with pytest.raises(OperationRefused, match="--new-meter registers at 0 Wh"):
        initial_registers(5, 0, None, new_meter=True)


def test_registers_far_below_or_above_the_probe_are_refused():
    with pytest.raises(OperationRefused, match=r"--import-wh 0 is 6,545,766 Wh below what meter 1 reported"):
        check_against_probe(1, SIGNER, 10_000, 0, 58, _probe(), now=NOW)
    with pytest.raises(OperationRefused, match=r"--export-wh 0 is 5,000 Wh below"):
        check_against_probe(1, SIGNER, 10_000, 6_545_766, 0, _probe(export_wh=5_000), now=NOW)
    # 60 s at 10 kW is at most 167 Wh more since the probe: far more is refused
    with pytest.raises(OperationRefused, match="above what meter 1 can read now"):
        check_against_probe(1, SIGNER, 10_000, 6_600_000, 58, _probe(), now=NOW)
    with pytest.raises(OperationRefused, match="the probe read meter 2, not meter 1"):
        check_against_probe(1, SIGNER, 10_000, 6_545_766, 58, _probe(meter_id=2), now=NOW)
    with pytest.raises(OperationRefused, match="with signer"):
        check_against_probe(1, "0x" + "34" * 20, 10_000, 6_545_766, 58, _probe(), now=NOW)
    with pytest.raises(OperationRefused, match="days old: probe the meter again"):
        check_against_probe(1, SIGNER, 10_000, 6_545_766, 58, _probe(read_at=NOW - 30 * 86400), now=NOW)
    check_against_probe(1, SIGNER, 10_000, 6_545_766, 58, _probe(), now=NOW)  # the probe's own figures
    check_against_probe(1, SIGNER, 10_000, 6_545_800, 58, _probe(), now=NOW)  # counted a little since


def test_register_meter_refuses_zero_against_a_probe_and_registers_the_probed_registers(deployer, config, tmp_path):
    path = tmp_path / "8890.json"
    deploy(deployer, config, path, log=lambda *_: None)
    ops = Operations.connect(deployer, path)
    household = deployer.w3.eth.accounts[4]
    probe = MeterProbe(3, 6_545_766, 58, int(deployer.w3.eth.get_block("latest")["timestamp"]), household, 8890)
    ledger = ops.address("MeterLedger")
    nonce = deployer.w3.eth.get_transaction_count(deployer.sender)
    with pytest.raises(OperationRefused, match="below what meter 3 reported"):
        ops.register_meter(3, household, household, "household", 10_000, 0, 0, probe=probe)
    assert deployer.w3.eth.get_transaction_count(deployer.sender) == nonce  # nothing sent
    ops.register_meter(3, household, household, "household", 10_000, *initial_registers(None, None, probe),
                       probe=probe)
    registered = deployer.call("MeterLedger", ledger, "meter", [3])
    assert registered[3] is True and (registered[7], registered[8]) == (6_545_766, 58)
