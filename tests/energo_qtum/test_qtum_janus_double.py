"""The Janus test double: what it refuses, and what a create and a call look like
through it (msg.sender, contract address, receipts, logs, UTXOs)."""

from __future__ import annotations

import hashlib

import pytest
from energo_testkit.janus_double import CALL_SENDER_WITHOUT_FROM, JANUS_ESTIMATE_GAS_BUFFER

from energo_qtum.builder import CallOutput, PayOutput, Utxo, build_call_tx, sign_transaction
from energo_qtum.errors import JanusRpcError, ReceiptTimeoutError
from energo_qtum.janus import JanusClient
from energo_qtum.keys import QtumSigner
from energo_qtum.script import p2pkh_script, push_data
from energo_qtum.tx import SIGHASH_ALL, Transaction, TxIn, TxOut, contract_address, legacy_sighash
from energo_qtum.wallet import QtumWallet

COIN = 100_000_000
GAS = 100_000


@pytest.fixture
def create_funded_signer(janus_double, request):
    """A fresh regtest key per test, funded with coins of the given values."""

    def create(*values_sat: int) -> QtumSigner:
        seed = hashlib.sha256(f"{request.node.nodeid}:{len(values_sat)}:{values_sat}".encode()).hexdigest()
        signer = QtumSigner(seed, "regtest")
        for value in values_sat:
            janus_double.fund(signer.hex_address, value)
        return signer

    return create


@pytest.fixture
def janus(janus_double) -> JanusClient:
    return JanusClient(janus_double.url)


def word(hex_address: str) -> str:
    return "0x" + hex_address.rjust(64, "0")


def assert_rejected(janus: JanusClient, raw_hex: str, reason: str) -> None:
    with pytest.raises(JanusRpcError) as caught:
        janus.send_raw_transaction(raw_hex)
    assert caught.value.code == -32000
    assert reason in caught.value.user_message


# ---- refusals --------------------------------------------------------------


def test_refuses_a_bad_signature(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    signed = build_call_tx(signer, janus.get_utxos(signer.hex_address), "22" * 20, "", gas_limit=GAS)
    script_sig = bytearray(signed.tx.inputs[0].script_sig)
    script_sig[10] ^= 0x01  # a byte inside r
    signed.tx.inputs[0].script_sig = bytes(script_sig)
    assert_rejected(janus, signed.raw_hex, "Signature must be zero for failed CHECK(MULTI)SIG")


def test_refuses_a_signature_by_another_key(janus, create_funded_signer, attacker):
    victim = create_funded_signer(COIN)
    utxo = janus.get_utxos(victim.hex_address)[0]
    tx = Transaction(
        inputs=[TxIn(utxo.txid, utxo.vout)], outputs=[TxOut(utxo.value_sat - 200_000, p2pkh_script(attacker.hash160))]
    )
    signature = attacker.sign_digest(legacy_sighash(tx, 0, utxo.script_pubkey)) + bytes([SIGHASH_ALL])
    tx.inputs[0].script_sig = push_data(signature) + push_data(attacker.public_key)
    assert_rejected(janus, tx.hex(), "OP_EQUALVERIFY")


def test_refuses_a_double_spend(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    coins = janus.get_utxos(signer.hex_address)
    first = build_call_tx(signer, coins, "22" * 20, "01", gas_limit=GAS)
    second = build_call_tx(signer, coins, "22" * 20, "02", gas_limit=GAS)
    assert janus.send_raw_transaction(first.raw_hex) == first.txid
    # qtumd's -25 bad-txns-inputs-missingorspent, as Janus passes it on (pkg/qtum/jsonrpc.go)
    assert_rejected(janus, second.raw_hex, "verify error")


def test_resending_the_same_transaction_returns_its_txid(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    signed = build_call_tx(signer, janus.get_utxos(signer.hex_address), "22" * 20, "", gas_limit=GAS)
    assert janus.send_raw_transaction(signed.raw_hex) == signed.txid
    assert janus.send_raw_transaction(signed.raw_hex) == signed.txid


def _unchecked_call(signer: QtumSigner, utxo: Utxo, change: int, gas_limit: int = GAS) -> str:
    """Sign with the input value unknown, so the library's own funds check is skipped."""
    unknown_value = Utxo(utxo.txid, utxo.vout, utxo.script_pubkey)
    outputs = [CallOutput(bytes(20), b"", gas_limit), PayOutput(signer.hash160, change)]
    return sign_transaction(signer, [unknown_value], outputs).raw_hex


def test_refuses_a_fee_under_the_gas_stipend(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    utxo = janus.get_utxos(signer.hex_address)[0]
    raw = _unchecked_call(signer, utxo, change=COIN - GAS * 40 + 1)
    assert_rejected(janus, raw, "bad-txns-fee-notenough")


def test_refuses_a_fee_that_covers_gas_but_not_size(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    utxo = janus.get_utxos(signer.hex_address)[0]
    raw = _unchecked_call(signer, utxo, change=COIN - GAS * 40 - 1_000)  # size fee is ~90,000 sat
    assert_rejected(janus, raw, "min relay fee not met")


def test_refuses_a_segwit_first_input(janus, janus_double, create_funded_signer):
    signer = create_funded_signer(COIN)
    segwit_coin = janus_double.fund(script_pubkey=bytes.fromhex("0014") + signer.hash160, value_sat=COIN)
    own = janus.get_utxos(signer.hex_address)[0]
    tx = Transaction(
        inputs=[TxIn(segwit_coin.txid, segwit_coin.vout), TxIn(own.txid, own.vout)],
        outputs=[CallOutput(bytes(20), b"", GAS).to_txout(), TxOut(COIN, p2pkh_script(signer.hash160))],
    )
    signature = signer.sign_digest(legacy_sighash(tx, 1, own.script_pubkey)) + bytes([SIGHASH_ALL])
    tx.inputs[1].script_sig = push_data(signature) + push_data(signer.public_key)
    assert_rejected(janus, tx.hex(), "bad-txns-invalid-sender-script")


def test_refuses_gas_price_below_minimum_even_if_a_client_skips_its_checks(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    utxo = janus.get_utxos(signer.hex_address)[0]
    tx = Transaction(
        inputs=[TxIn(utxo.txid, utxo.vout)],
        outputs=[
            TxOut(0, CallOutput(bytes(20), b"", GAS, gas_price=39).to_txout().script_pubkey),
            TxOut(COIN // 2, p2pkh_script(signer.hash160)),
        ],
    )
    signature = signer.sign_digest(legacy_sighash(tx, 0, utxo.script_pubkey)) + bytes([SIGHASH_ALL])
    tx.inputs[0].script_sig = push_data(signature) + push_data(signer.public_key)
    assert_rejected(janus, tx.hex(), "bad-tx-low-gas-price")


def test_refuses_garbage(janus):
    assert_rejected(janus, "00ff", "deserialization error")  # qtumd's -22 TX decode failed, via Janus


# ---- create and call -------------------------------------------------------


def test_create_then_call_uses_qtum_sender_and_contract_address(janus, create_funded_signer, sender_probe):
    signer = create_funded_signer(5 * COIN)
    wallet = QtumWallet(janus, signer)
    selectors = sender_probe["selectors"]

    txid, contract_hex = wallet.send_create(sender_probe["bytecode"])
    receipt = wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)
    assert contract_hex == contract_address(txid, 0)
    assert receipt["transactionHash"] == "0x" + txid
    assert receipt["contractAddress"] == "0x" + contract_hex
    assert receipt["from"] == "0x" + signer.hex_address
    assert receipt["status"] == "0x1"
    assert janus.get_code(contract_hex) not in ("0x", "")
    assert janus.call({"to": "0x" + contract_hex, "data": "0x" + selectors["creator()"]}) == word(signer.hex_address)
    constructor_log = receipt["logs"][0]
    assert constructor_log["address"] == "0x" + contract_hex
    assert constructor_log["transactionHash"] == "0x" + txid

    call_txid = wallet.send_call(contract_hex, selectors["touch()"])
    call_receipt = wallet.wait_receipt(call_txid, timeout=10, poll_interval=0.05)
    assert call_receipt["transactionHash"] == "0x" + call_txid
    assert call_receipt["to"] == "0x" + contract_hex and call_receipt["contractAddress"] is None
    assert janus.call({"to": "0x" + contract_hex, "data": "0x" + selectors["lastCaller()"]}) == word(signer.hex_address)
    assert int(janus.call({"to": "0x" + contract_hex, "data": "0x" + selectors["calls()"]}), 16) == 1

    logs = janus.get_logs({"address": "0x" + contract_hex, "fromBlock": "0x0", "toBlock": "latest"})
    assert [log["transactionHash"] for log in logs] == ["0x" + txid, "0x" + call_txid]
    assert {log["address"] for log in logs} == {"0x" + contract_hex}


def test_reverting_call_is_mined_with_status_zero(janus, create_funded_signer, sender_probe):
    signer = create_funded_signer(5 * COIN)
    wallet = QtumWallet(janus, signer)
    _, contract_hex = wallet.send_create(sender_probe["bytecode"])
    txid = wallet.send_call(contract_hex, sender_probe["selectors"]["fail()"], gas_limit=GAS)
    assert wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)["status"] == "0x0"


def test_estimate_gas_adds_the_janus_buffer(janus, janus_double, create_funded_signer, sender_probe):
    signer = create_funded_signer(5 * COIN)
    # Without "from", qtumd runs the estimate as 0xff..ff (src/validation.cpp CallContract)
    no_from = {"from": CALL_SENDER_WITHOUT_FROM, "data": "0x" + sender_probe["bytecode"]}
    raw = JanusClient(janus_double.anvil_url).estimate_gas(no_from)
    assert janus.estimate_gas({"data": "0x" + sender_probe["bytecode"]}) == int(raw * JANUS_ESTIMATE_GAS_BUFFER)
    assert janus.estimate_gas({"to": "0x" + "22" * 20}) == 22_000  # no data: Janus' fixed answer
    assert signer is not None


# ---- UTXOs, refunds and the wallet ----------------------------------------


def test_get_utxos_matches_the_janus_response_shape(janus, create_funded_signer):
    signer = create_funded_signer(150_000_000)
    (entry,) = janus.request("qtum_getUTXOs", ["0x" + signer.hex_address, "0", "p2pk", "p2pkh"])
    assert set(entry) == {
        "address",
        "txid",
        "vout",
        "amount",
        "safe",
        "spendable",
        "confirmations",
        "height",
        "type",
        "scriptPubKey",
    }
    assert (entry["address"], entry["amount"], entry["type"], entry["safe"]) == (signer.address, "1.5", "P2PKH", True)
    with pytest.raises(JanusRpcError, match="required minimum amount"):
        janus.request("qtum_getUTXOs", ["0x" + signer.hex_address, "2", "p2pkh"])


def test_gas_refund_is_an_immature_coin_the_wallet_does_not_spend(janus, create_funded_signer):
    signer = create_funded_signer(COIN)
    wallet = QtumWallet(janus, signer)
    txid = wallet.send_call("22" * 20, "", gas_limit=GAS)
    wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)
    everything = janus.get_utxos(signer.hex_address, mature_only=False)
    # Janus lists a regtest refund as safe (qtum_getUTXOs.go looks at isStake only):
    # the refund is the coin that is not the transaction's change.
    refunds = [u for u in everything if u.txid != txid]
    assert len(refunds) == 1 and 0 < refunds[0].value_sat < GAS * 40
    assert all(u.mature for u in janus.get_utxos(signer.hex_address))
    assert refunds[0].outpoint not in {u.outpoint for u in wallet.spendable_utxos()}


class StaleUtxoJanus(JanusClient):
    """Janus whose UTXO list lags behind, as a real node's does while a tx is unconfirmed."""

    def __init__(self, url: str):
        super().__init__(url)
        self.snapshot = None

    def get_utxos(self, *args, **kwargs):
        if self.snapshot is None:
            self.snapshot = super().get_utxos(*args, **kwargs)
        return self.snapshot


def test_two_quick_sends_do_not_double_spend(janus_double, create_funded_signer):
    signer = create_funded_signer(COIN)
    wallet = QtumWallet(StaleUtxoJanus(janus_double.url), signer)
    first = wallet.send_call("22" * 20, "01", gas_limit=GAS)
    second = wallet.send_call("22" * 20, "02", gas_limit=GAS)  # must spend the first one's change
    assert first != second
    assert wallet.wait_receipt(second, timeout=10, poll_interval=0.05)["status"] == "0x1"


def test_wait_receipt_times_out_for_an_unknown_txid(janus, create_funded_signer):
    wallet = QtumWallet(janus, create_funded_signer(COIN))
    with pytest.raises(ReceiptTimeoutError, match="not mined"):
        wallet.wait_receipt("ab" * 32, timeout=0.2, poll_interval=0.05)


def test_wait_receipt_waits_for_confirmations(janus, create_funded_signer):
    wallet = QtumWallet(janus, create_funded_signer(COIN))
    txid = wallet.send_call("22" * 20, "", gas_limit=GAS)
    with pytest.raises(ReceiptTimeoutError, match="not deep enough"):
        wallet.wait_receipt(txid, confirmations=50, timeout=0.2, poll_interval=0.05)


def test_unknown_receipt_is_null_and_unknown_method_is_an_error(janus):
    assert janus.get_transaction_receipt("cd" * 32) is None
    with pytest.raises(JanusRpcError, match="does not exist"):
        janus.request("eth_sendTransaction", [{}])
