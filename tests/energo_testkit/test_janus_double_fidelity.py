"""The Janus test double answers as Janus v0.4.3 and qtumd v27.1 do, where they differ
from an Ethereum node. Each test names the public source file the behaviour follows
(qtumproject/janus at v0.4.3, qtumproject/qtum at v27.1); none was checked against a
running qtumd."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from energo_testkit.janus_double import CALL_SENDER_WITHOUT_FROM, JanusTestDouble
from energo_testkit.mempool import QTUM_COINBASE_MATURITY
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak

from energo_qtum.builder import CallOutput, PayOutput, Utxo, build_call_tx, sign_transaction
from energo_qtum.errors import JanusRpcError
from energo_qtum.janus import JanusClient
from energo_qtum.keys import QtumSigner
from energo_qtum.script import p2pkh_script, push_data
from energo_qtum.tx import SIGHASH_ALL, Transaction, TxIn, TxOut, legacy_sighash
from energo_qtum.wallet import QtumWallet

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
COIN = 10**8
GAS = 100_000
NOTED = "0x" + keccak(text="Noted(uint256,address,uint256)").hex()


def selector(signature: str) -> str:
    return function_signature_to_4byte_selector(signature).hex()


def signer_for(label: str) -> QtumSigner:
    return QtumSigner(keccak(text=f"fidelity {label}").hex(), "regtest")


@pytest.fixture(scope="module")
def probe_code() -> str:
    source = (Path(__file__).parent / "contracts" / "FidelityProbe.sol").read_text()
    standard_input = {
        "language": "Solidity",
        "sources": {"FidelityProbe.sol": {"content": source}},
        "settings": {"evmVersion": "cancun", "outputSelection": {"*": {"*": ["evm.bytecode.object"]}}},
    }
    completed = subprocess.run(["node", str(REPO_ROOT / "tools" / "solc.js"), "--standard-json"],
                               input=json.dumps(standard_input), capture_output=True, text=True, check=True,
                               timeout=300)
    output = json.loads(completed.stdout)
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"], output["errors"]
    return output["contracts"]["FidelityProbe.sol"]["FidelityProbe"]["evm"]["bytecode"]["object"]


MINER = signer_for("janus first account")
USER = signer_for("user")


@pytest.fixture(scope="module")
def chain(probe_code):
    """One double (Janus' first account is MINER), two probe contracts deployed by USER."""
    with JanusTestDouble({USER.hex_address: 50 * COIN}, accounts=[MINER.address]) as double:
        for _ in range(4):
            double.fund(USER.hex_address, 50 * COIN)
        janus = JanusClient(double.url)
        wallet = QtumWallet(janus, USER)
        probes = []
        for _ in range(2):
            txid, address = wallet.send_create(probe_code)
            assert wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)["status"] == "0x1"
            probes.append(address)
        yield double, janus, wallet, sorted(probes)


def call(janus: JanusClient, to: str, signature: str, args: bytes = b"", **extra) -> str:
    return janus.call({"to": "0x" + to, "data": "0x" + selector(signature) + args.hex(), **extra})


# ---- 1. eth_call returns revert bytes as a result --------------------------------


def test_a_custom_error_revert_comes_back_as_a_successful_result(chain):
    # pkg/transformer/eth_call.go L85-98: only an empty output is an error.
    _, janus, _, (probe, _) = chain
    result = call(janus, probe, "customRevert()")
    assert result == "0x" + selector("ProbeError(uint256)") + encode(["uint256"], [7]).hex()
    string_revert = bytes.fromhex(call(janus, probe, "stringRevert()")[2:])
    assert string_revert[:4].hex() == "08c379a0" and decode(["string"], string_revert[4:]) == ("nope",)


def test_an_empty_output_is_the_only_call_error(chain):
    # eth_call.go L86-92: "Revert: executionResult output is empty", also for a call
    # that succeeds but returns nothing.
    _, janus, _, (probe, _) = chain
    for signature in ("emptyRevert()", "nothing()"):
        with pytest.raises(JanusRpcError, match="Revert: executionResult output is empty") as caught:
            call(janus, probe, signature)
        assert caught.value.code == -32000


def test_a_call_to_an_address_without_code_answers_0x(chain):
    # qtumd src/rpc/contract_util.cpp L60-67 ("Address does not exist", -5) and
    # eth_call.go L44-48 (ErrInvalidAddress -> "0x").
    _, janus, _, _ = chain
    assert janus.call({"to": "0x" + "12" * 20, "data": "0x" + selector("clock()")}) == "0x"


# ---- 2. error texts replaced by code -----------------------------------------------


def test_error_texts_are_replaced_by_code(chain):
    # pkg/qtum/jsonrpc.go L86-93 (TryGetKnownError), L137-142 and L190-212.
    double, janus, _, _ = chain
    signer = signer_for("double spender")
    double.fund(signer.hex_address, COIN)
    coins = janus.get_utxos(signer.hex_address)
    first = build_call_tx(signer, coins, "22" * 20, "01", gas_limit=GAS)
    second = build_call_tx(signer, coins, "22" * 20, "02", gas_limit=GAS)
    janus.send_raw_transaction(first.raw_hex)
    with pytest.raises(JanusRpcError) as spent:
        janus.send_raw_transaction(second.raw_hex)  # qtumd: -25 bad-txns-inputs-missingorspent
    assert spent.value.code == -32000 and spent.value.user_message.endswith("failed: verify error")
    with pytest.raises(JanusRpcError) as garbage:
        janus.send_raw_transaction("00ff")  # qtumd: -22 TX decode failed
    assert garbage.value.user_message.endswith("failed: deserialization error")
    assert double._qtum_error(-5, "Invalid address").message == "invalid address"
    # -26 is commented out of Janus' table: qtumd's text passes unchanged.
    assert double._qtum_error(-26, "bad-tx-low-gas-price").message == "qtum [code: -26] bad-tx-low-gas-price"


# ---- 3. regtest coinbase and refunds look safe; dev mining pays Janus' first account -------


def test_janus_first_account_gets_a_20000_qtum_coinbase_listed_safe_but_immature(chain):
    # pkg/qtum/qtum.go L163-173 (GenerateIfPossible on regtest after each raw tx),
    # pkg/qtum/method.go Generate (to Accounts[0]); qtumd src/validation.cpp L1891-1894
    # (20,000 QTUM up to height 5000); pkg/transformer/qtum_getUTXOs.go L89-111 (safe
    # unless isStake); qtumd src/consensus/tx_verify.cpp L183-187 refuses the spend.
    double, janus, wallet, (probe, _) = chain
    wallet.send_call(probe, selector("stampTime()"), gas_limit=GAS)
    coins = janus.request("qtum_getUTXOs", ["0x" + MINER.hex_address, "0", "p2pkh"])
    assert coins and all(c["safe"] for c in coins)
    assert max(int(float(c["amount"])) for c in coins) >= 20_000
    biggest = max(janus.get_utxos(MINER.hex_address), key=lambda u: u.value_sat or 0)
    spend = build_call_tx(MINER, [biggest], "22" * 20, "", gas_limit=GAS)
    with pytest.raises(JanusRpcError, match=r"qtum \[code: -26\] bad-txns-premature-spend-of-coinbase"):
        janus.send_raw_transaction(spend.raw_hex)


def test_a_gas_refund_is_listed_safe_and_spendable_only_after_2000_blocks(chain):
    # Refunds are coinbase outputs (PoW regtest): qtum_getUTXOs.go L96-111 lists them as
    # safe; qtumd src/consensus/tx_verify.cpp L183-187 and chainparams.cpp L652-654
    # (maturity 2000) decide when they can be spent.
    double, janus, _, _ = chain
    signer = signer_for("refunded")
    double.fund(signer.hex_address, COIN)
    sent = build_call_tx(signer, janus.get_utxos(signer.hex_address), "22" * 20, "", gas_limit=GAS)
    janus.send_raw_transaction(sent.raw_hex)
    (refund,) = [u for u in janus.get_utxos(signer.hex_address) if u.txid != sent.txid]
    assert refund.mature, "Janus says safe"
    assert refund.txid == janus.coinbase_txid(refund.height), "it is the block's coinbase"
    spend = build_call_tx(signer, [refund], "22" * 20, "", gas_limit=22_000)
    with pytest.raises(JanusRpcError, match="premature-spend-of-coinbase, tried to spend coinbase at depth 1"):
        janus.send_raw_transaction(spend.raw_hex)
    blocks = QTUM_COINBASE_MATURITY - 2  # next block's height - refund height = 1999
    double._evm("anvil_mine", [hex(blocks)])
    with pytest.raises(JanusRpcError, match="at depth 1999"):
        janus.send_raw_transaction(spend.raw_hex)
    double._evm("anvil_mine", ["0x1"])
    assert janus.send_raw_transaction(spend.raw_hex) == spend.txid


# ---- 4. logIndex per receipt, a block's logs grouped by contract --------------------


def test_block_logs_come_grouped_by_contract_with_logindex_per_receipt(chain):
    # qtumd: src/validation.cpp L3463, L3690-3693 (height index keyed by log address),
    # src/node/blockstorage.cpp L199-252 (read in key order), src/rpc/blockchain.cpp
    # L1326-1335 (each transaction once); Janus pkg/conversion/util.go L47-88 (logIndex =
    # position in the receipt, only with an address or topic filter), L14-33.
    double, janus, wallet, (low, high) = chain
    double.dev_mining = False
    try:
        tx_high_first = wallet.send_call(high, selector("note(uint256,uint256)") + encode(["uint256"] * 2, [1, 2]).hex(),
                                         gas_limit=GAS)
        tx_low = wallet.send_call(low, selector("note(uint256,uint256)") + encode(["uint256"] * 2, [2, 1]).hex(),
                                  gas_limit=GAS)
        tx_high_again = wallet.send_call(high, selector("note(uint256,uint256)") +
                                         encode(["uint256"] * 2, [3, 1]).hex(), gas_limit=GAS)
        assert janus.get_transaction_receipt(tx_low) is None, "not mined yet"
        double.mine()
    finally:
        double.dev_mining = True
    receipts = [janus.get_transaction_receipt(t) for t in (tx_high_first, tx_low, tx_high_again)]
    assert len({r["blockNumber"] for r in receipts}) == 1, "one block"
    assert [r["transactionIndex"] for r in receipts] == ["0x1", "0x2", "0x3"], "the coinbase is index 0"
    block = receipts[0]["blockNumber"]
    logs = janus.get_logs({"fromBlock": block, "toBlock": block, "address": ["0x" + low, "0x" + high]})
    assert [(log["transactionHash"][2:], log["logIndex"]) for log in logs] == [
        (tx_low, "0x0"), (tx_high_first, "0x0"), (tx_high_first, "0x1"), (tx_high_again, "0x0")]
    assert all("removed" not in log for log in logs)  # pkg/eth/rpc_types.go L396: never set
    unfiltered = janus.get_logs({"fromBlock": block, "toBlock": block})
    assert [log["logIndex"] for log in unfiltered] == ["0x0"] * 4, "no filter: Janus never numbers them"
    # eth_getTransactionReceipt.go L103-104: receipt logs keep Index 0 too.
    assert [log["logIndex"] for log in receipts[0]["logs"]] == ["0x0", "0x0"]
    ordered = sorted(logs, key=lambda log: (int(log["blockNumber"], 16), int(log["transactionIndex"], 16),
                                            int(log["logIndex"], 16)))
    assert [log["transactionHash"][2:] for log in ordered] == [tx_high_first, tx_high_first, tx_low, tx_high_again]


# ---- 5. eth_call and eth_getCode ignore the block tag --------------------------------


def test_block_tags_of_call_and_get_code_are_ignored(chain):
    # pkg/eth/rpc_types.go L126-146 (CallRequest reads params[0] only);
    # pkg/transformer/eth_getCode.go L31-53 (getaccountinfo of the address only).
    _, janus, wallet, (probe, _) = chain
    txid = wallet.send_call(probe, selector("stampTime()"), gas_limit=GAS)
    mined = int(wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)["blockNumber"], 16)
    before = hex(mined - 1)
    latest = call(janus, probe, "stamp()")
    assert janus.call({"to": "0x" + probe, "data": "0x" + selector("stamp()")}, before) == latest
    assert janus.get_code(probe, "0x1") == janus.get_code(probe) != "0x"


# ---- 6. the mempool refuses more than 20,000,000 gas per contract output ------------------


def _manual_call(signer: QtumSigner, utxo: Utxo, gas_limit: int) -> str:
    stipend = gas_limit * 40
    tx = Transaction(inputs=[TxIn(utxo.txid, utxo.vout)], outputs=[
        CallOutput(bytes(20), b"", gas_limit).to_txout(),
        TxOut((utxo.value_sat or 0) - stipend - 200_000, p2pkh_script(signer.hash160))])
    signature = signer.sign_digest(legacy_sighash(tx, 0, utxo.script_pubkey)) + bytes([SIGHASH_ALL])
    tx.inputs[0].script_sig = push_data(signature) + push_data(signer.public_key)
    return tx.hex()


def test_a_gas_limit_above_20_million_is_not_standard(chain):
    # qtumd src/script/solver.cpp L268-276 (> DEFAULT_BLOCK_GAS_LIMIT_DGP / 2 outside
    # consensus), src/validation.cpp L758-762 and src/policy/policy.cpp L135 ("scriptpubkey").
    double, janus, _, _ = chain
    signer = signer_for("greedy")
    double.fund(signer.hex_address, 10 * COIN)
    double.fund(signer.hex_address, 10 * COIN)
    first, second = janus.get_utxos(signer.hex_address)
    with pytest.raises(JanusRpcError, match=r"qtum \[code: -26\] scriptpubkey"):
        janus.send_raw_transaction(_manual_call(signer, first, 20_000_001))
    raw = _manual_call(signer, second, 20_000_000)
    assert janus.send_raw_transaction(raw)


# ---- 7. the smaller differences ------------------------------------------------------


def test_get_logs_needs_both_bounds_and_ignores_block_hash(chain):
    # pkg/transformer/util.go L307-320 (getBlockNumberByRawParam: a missing bound is not
    # a string or an integer) and eth_getLogs.go L60-104 (blockHash never read).
    _, janus, _, (probe, _) = chain
    for bounds in ({}, {"fromBlock": "0x0"}, {"toBlock": "latest"}):
        with pytest.raises(JanusRpcError, match="string or integer is expected") as caught:
            janus.request("eth_getLogs", [{"address": "0x" + probe, **bounds}])
        assert caught.value.code == -32602
    everything = janus.get_logs({"address": "0x" + probe, "fromBlock": "0x0", "toBlock": "latest"})
    ignored = janus.get_logs({"address": "0x" + probe, "fromBlock": "0x0", "toBlock": "latest",
                              "blockHash": "0x" + "ab" * 32})
    assert everything and ignored == everything
    with pytest.raises(JanusRpcError, match="fromBlock"):
        janus.get_logs({"address": "0x" + probe})  # the client refuses before asking


def test_net_version_is_hex_and_there_is_no_eth_syncing(chain):
    # pkg/transformer/eth_net_version.go L23-29 (hexutil.EncodeBig);
    # pkg/transformer/transformer.go L88-140 (no eth_syncing proxy).
    _, janus, _, _ = chain
    assert janus.request("net_version") == "0x22ba"
    with pytest.raises(JanusRpcError, match="does not exist") as caught:
        janus.request("eth_syncing")
    assert caught.value.code == -32601


def test_a_call_without_from_runs_as_0xff_and_value_is_not_forwarded(chain):
    # qtumd src/validation.cpp L2681 (CallContract's sender); Janus
    # pkg/qtum/rpc_types.go L309-314 (CallContractRequest has no value).
    _, janus, _, (probe, _) = chain
    assert call(janus, probe, "sender()") == "0x" + CALL_SENDER_WITHOUT_FROM[2:].rjust(64, "0")
    assert call(janus, probe, "sender()", **{"from": "0x" + USER.hex_address}) == "0x" + USER.hex_address.rjust(64, "0")
    assert int(call(janus, probe, "value()", value=hex(5 * 10**10), **{"from": "0x" + USER.hex_address}), 16) == 0


def test_calls_run_at_wall_time_and_blocks_at_multiples_of_4_seconds(chain):
    # qtumd src/validation.cpp L2663-2669 (CallContract: nTime = adjusted wall time);
    # block times on a 4 s grid (src/kernel/chainparams.cpp nRBTStakeTimestampMask = 3).
    double, janus, wallet, (probe, _) = chain
    double.wait_for_clock()  # blocks anvil_mine made above may be ahead of the clock
    before = int(time.time())
    tip_time = int(janus.request("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    clock = int(call(janus, probe, "clock()"), 16)
    # wall time, though never taken for more than 3 s before the tip's time (blocks that
    # anvil mined by itself, anvil_mine above, may run further ahead than Qtum's)
    assert before - 1 <= clock <= max(int(time.time()) + 1, tip_time - 3)  # whole seconds
    txid = wallet.send_call(probe, selector("stampTime()"), gas_limit=GAS)
    after = int(time.time())
    wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)
    stamp = int(call(janus, probe, "stamp()"), 16)
    # at most 3 s ahead of the clock; anvil's clock ticks in whole seconds, hence + 1
    assert stamp % 4 == 0 and before - 4 < stamp <= after + 3 + 1


def test_a_plain_transfer_has_no_receipt(chain):
    # pkg/transformer/eth_getTransactionReceipt.go L44-60: qtumd has no receipt for a
    # transaction without a contract output, Janus answers null.
    double, janus, _, _ = chain
    signer = signer_for("payer")
    double.fund(signer.hex_address, COIN)
    (coin,) = janus.get_utxos(signer.hex_address)
    paid = sign_transaction(signer, [coin], [PayOutput(USER.hash160, COIN - 100_000)])
    assert janus.send_raw_transaction(paid.raw_hex) == paid.txid
    assert janus.get_transaction_receipt(paid.txid) is None
    assert any(u.txid == paid.txid for u in janus.get_utxos(USER.hex_address)), "mined all the same"


def test_a_reverting_estimate_says_execution_reverted_without_data(chain):
    # pkg/transformer/eth_estimateGas.go L13, L63-66.
    double, janus, _, (probe, _) = chain
    request = ["eth_estimateGas", [{"to": "0x" + probe, "data": "0x" + selector("customRevert()")}]]
    answer = double.dispatch({"jsonrpc": "2.0", "id": 1, "method": request[0], "params": request[1]})
    assert answer["error"] == {"code": -32000, "message": "execution reverted"}


def test_blocks_list_their_coinbase_first(chain):
    # pkg/transformer/eth_getBlockByNumber.go: the block's Qtum transactions, vtx[0] the coinbase.
    _, janus, wallet, (probe, _) = chain
    txid = wallet.send_call(probe, selector("stampTime()"), gas_limit=GAS)
    height = int(wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)["blockNumber"], 16)
    block = janus.request("eth_getBlockByNumber", [hex(height), False])
    assert block["transactions"][1] == "0x" + txid
    assert janus.coinbase_txid(height) == block["transactions"][0][2:]


# ---- the one switch back ----------------------------------------------------------------


def test_anvil_like_answers_are_one_switch_away(chain):
    double, _, _, (probe, _) = chain
    with JanusTestDouble(anvil_url=double.anvil_url, anvil_like=True) as old:
        janus = JanusClient(old.url)
        assert janus.request("net_version") == "8890"
        assert janus.request("eth_syncing") is False
        answer = old.dispatch({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                               "params": [{"to": "0x" + probe, "data": "0x" + selector("customRevert()")}]})
        assert "error" in answer and answer["error"]["data"].startswith("0x" + selector("ProbeError(uint256)"))
