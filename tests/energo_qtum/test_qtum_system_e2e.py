"""Energo on Qtum end to end, without a qtumd wallet: the operator deploys the whole
system with a local key through Janus (Qtum OP_CREATE/OP_CALL transactions), roles go
to hash160 senders, a household deposits with its own Qtum key, and a real gateway
(`python -m oracle run`, transport = "qtum", encrypted keystores) gets its signed
readings on-chain.

Janus and qtumd are replaced by JanusTestDouble (a TEST DOUBLE: no Qtum node runs here;
it checks every raw transaction like qtumd and runs the EVM part on anvil with
msg.sender = the hash160 of the first input's key).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from energo_testkit.janus_double import JanusTestDouble
from eth_account import Account
from web3 import HTTPProvider, Web3

from energo.constants import TSL, WATT_PER_WH
from energo.facts import REGISTRAR_ROLE
from energo_deploy import DeployConfig, DeploymentError, deploy
from energo_deploy.operations import OperationRefused, Operations
from energo_deploy.qtum_backend import QtumBackend
from energo_qtum import JanusClient, QtumSigner
from oracle.keys import write_keystore

ROOT = Path(__file__).resolve().parents[2]
COIN = 10**8
PASSPHRASE = "e2e test passphrase"

pytestmark = pytest.mark.slow


def _key(label: str) -> bytes:
    return Web3.keccak(text=f"energo qtum e2e {label}")


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)  # polling a chain, not synchronising on time
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _next_noon(timestamp: int) -> int:
    day = timestamp - timestamp % 86_400
    noon = day + 12 * 3600
    return noon if noon > timestamp else noon + 86_400


def test_deploy_roles_and_gateway_over_qtum(tmp_path):
    operator_signer = QtumSigner(_key("operator").hex(), "regtest")
    outsider_signer = QtumSigner(_key("outsider").hex(), "regtest")
    household_signer = QtumSigner(_key("household").hex(), "regtest")
    gateway_key = _key("gateway")
    gateway_signer = QtumSigner(gateway_key.hex(), "regtest")
    meter_key = _key("meter")

    with JanusTestDouble() as double:
        for signer, coins in ((operator_signer, 6), (outsider_signer, 2), (household_signer, 2), (gateway_signer, 4)):
            for _ in range(coins):
                double.fund(signer.hex_address, 20 * COIN)
        # Start the day at noon so the simulated household's PV exports (the chain's clock
        # moves with it; readings may never be in the chain's future).
        evm = Web3(HTTPProvider(double.anvil_url))
        now = evm.eth.get_block("latest")["timestamp"]
        noon = _next_noon(now)
        evm.provider.make_request("evm_increaseTime", [noon - now])
        evm.provider.make_request("evm_mine", [])

        janus = JanusClient(double.url)
        operator = QtumBackend(janus, operator_signer)
        assert operator.sender == Web3.to_checksum_address("0x" + operator_signer.hex_address)

        # ---- deploy with Qtum transactions, recorded per chain id
        deployments = tmp_path / "deployments" / "8890.json"
        config = DeployConfig.from_toml(ROOT / "deploy" / "local.toml")
        result = deploy(operator, config, deployments, log=lambda *_: None)
        contracts = result.contracts
        assert {"TslToken", "SharedBattery", "MeterLedger", "ContinuousMarket"} <= set(result.deployed)
        tsl, battery, ledger = contracts["TslToken"], contracts["SharedBattery"], contracts["MeterLedger"]
        assert operator.call("SharedBattery", battery, "ledger", []) == ledger
        assert operator.call("TslToken", tsl, "balanceOf", [operator.sender]) == config.tsl_supply
        again = deploy(operator, config, deployments, log=lambda *_: None)  # idempotent over Qtum too
        assert again.deployed == [] and set(again.skipped) == set(result.deployed)

        # ---- roles belong to hash160 senders
        assert operator.call("MeterLedger", ledger, "hasRole", [REGISTRAR_ROLE, operator.sender])
        outsider = QtumBackend(janus, outsider_signer)
        with pytest.raises(OperationRefused, match="lacks REGISTRAR_ROLE"):
            Operations.connect(outsider, deployments).register_meter(1, outsider.sender, outsider.sender,
                                                                     "household", 10_000)
        with pytest.raises(DeploymentError, match="MeterLedger.registerMeter"):  # the contract itself refuses
            outsider.transact("MeterLedger", ledger, "registerMeter",
                              [1, outsider.sender, outsider.sender, 0, 10_000, 0, 0])

        ops = Operations.connect(operator, deployments)
        household = Web3.to_checksum_address("0x" + household_signer.hex_address)
        meter_signer = Account.from_key(meter_key).address  # meters sign EIP-712 with ordinary keys
        ops.register_meter(1, meter_signer, household, "household", 10_000)
        ops.fund_household(household, 100)

        # ---- the household prepays rent with its own Qtum key
        home = QtumBackend(janus, household_signer)
        home.transact("TslToken", tsl, "approve", [battery, 40 * TSL])
        home.transact("SharedBattery", battery, "deposit", [40 * TSL])
        assert home.call("SharedBattery", battery, "freeTslOf", [household]) == 40 * TSL

        # ---- a real gateway process submits signed readings as Qtum transactions
        gateway_dir = tmp_path / "gateway"
        gateway_dir.mkdir()
        (gateway_dir / "passphrase").write_text(PASSPHRASE)
        (gateway_dir / "passphrase").chmod(0o600)  # the gateway refuses a secret others can read
        write_keystore(gateway_dir / "sender.json", gateway_key, PASSPHRASE, scrypt_n=2**10)
        write_keystore(gateway_dir / "meter-1.json", meter_key, PASSPHRASE, scrypt_n=2**10)
        start = evm.eth.get_block("latest")["timestamp"] + 2
        (gateway_dir / "gateway.toml").write_text(f"""
[chain]
transport = "qtum"
qtum_network = "regtest"
rpc_url = "{double.url}"
chain_id = 8890
ledger_address = "{ledger}"
confirmations = 1
poll_interval_s = 0.2

[sender]
keystore = "{gateway_dir / 'sender.json'}"
passphrase_file = "{gateway_dir / 'passphrase'}"

[outbox]
path = "{gateway_dir / 'outbox.sqlite'}"

[batch]
max_readings = 5
max_delay_s = 1.0

[metrics]
enabled = false

[simulation]
start_timestamp = {start}

[[meters]]
id = 1
interval_s = 1.0
[meters.key]
keystore = "{gateway_dir / 'meter-1.json'}"
passphrase_file = "{gateway_dir / 'passphrase'}"
[meters.source]
type = "simulated_household"
seed = 7
pv_peak_w = 5000
daily_load_wh = 8000
""")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "oracle", "run", "--config", str(gateway_dir / "gateway.toml")],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            meter = _wait_for(lambda: (m := operator.call("MeterLedger", ledger, "meter", [1]))[5] >= 6 and m,
                              timeout=90, what="six readings from the gateway on-chain")
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output[-3000:]
        meter = operator.call("MeterLedger", ledger, "meter", [1])

        # ---- the household screen matches what the meter measured
        _signer, account, _kind, active, _rated, last_seq, _ts, import_wh, export_wh = meter
        assert account == household and active and last_seq >= 6
        generated, stored, from_battery, from_grid, spilled, purchased, sold = operator.call(
            "SharedBattery", battery, "countersOf", [household])
        assert generated == export_wh > 0, "noon PV exports"
        assert from_battery + from_grid == import_wh
        assert stored == export_wh * config.charge_efficiency_bps // 10_000 or stored <= generated
        assert purchased == sold == 0
        balance = operator.call("SharedBattery", battery, "balanceOf", [household])
        assert balance == (stored - from_battery) * WATT_PER_WH, "rent came out of the TSL deposit, not WATT"
        assert operator.call("SharedBattery", battery, "freeTslOf", [household]) <= 40 * TSL
        days = operator.call("SharedBattery", battery, "daysOfStorage", [household])
        assert days > 0
        # every batch was a Qtum transaction whose sender, as the EVM saw it, is the
        # hash160 of the gateway's key (not the keccak address of the same key)
        accepted = Web3.keccak(text="ReadingAccepted(uint32,uint32,uint64,uint64,uint64)")
        logs = evm.eth.get_logs({"address": ledger, "topics": [accepted], "fromBlock": 0})
        assert len(logs) == last_seq
        senders = {evm.eth.get_transaction(log["transactionHash"])["from"] for log in logs}
        assert senders == {Web3.to_checksum_address("0x" + gateway_signer.hex_address)}
        assert Account.from_key(gateway_key).address not in senders
