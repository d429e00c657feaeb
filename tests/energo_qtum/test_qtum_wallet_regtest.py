"""The wallet against what real Janus does on regtest: immature coinbase outputs and
refunds listed as safe (pkg/transformer/qtum_getUTXOs.go), "verify error" for spent
inputs (pkg/qtum/jsonrpc.go), and refunds that pile up as small coins."""

from __future__ import annotations

import hashlib

import pytest
from energo_testkit.janus_double import JanusTestDouble

from energo_qtum.builder import build_call_tx
from energo_qtum.janus import JanusClient
from energo_qtum.keys import QtumSigner
from energo_qtum.wallet import QtumWallet

COIN = 100_000_000
GAS = 100_000


def _signer(label: str) -> QtumSigner:
    return QtumSigner(hashlib.sha256(f"wallet regtest {label}".encode()).hexdigest(), "regtest")


def test_the_wallet_of_janus_first_account_skips_its_immature_coinbase(janus_double):
    # The regtest key pitfall: Janus mines a 20,000 QTUM block to its first account after
    # every transaction, and lists the coinbase as safe. Largest-first would pick it and
    # qtumd would refuse it (premature spend) again and again.
    miner = _signer("janus first account")
    with JanusTestDouble(anvil_url=janus_double.anvil_url, accounts=[miner.address]) as double:
        double.fund(miner.hex_address, COIN)
        janus = JanusClient(double.url)
        wallet = QtumWallet(janus, miner)
        first = wallet.send_call("22" * 20, "01", gas_limit=GAS)
        wallet.wait_receipt(first, timeout=10, poll_interval=0.05)
        listed = janus.get_utxos(miner.hex_address)
        assert max(u.value_sat or 0 for u in listed) >= 20_000 * COIN and all(u.mature for u in listed)
        assert all((u.value_sat or 0) < 20_000 * COIN for u in wallet.spendable_utxos())
        second = wallet.send_call("22" * 20, "02", gas_limit=GAS)  # spends the change, not the coinbase
        assert wallet.wait_receipt(second, timeout=10, poll_interval=0.05)["status"] == "0x1"


def test_small_coins_are_consolidated_once_there_are_many(janus_double):
    signer = _signer("many refunds")
    for _ in range(3):
        janus_double.fund(signer.hex_address, 5 * COIN)
    for _ in range(9):
        janus_double.fund(signer.hex_address, COIN // 10)
    janus = JanusClient(janus_double.url)
    wallet = QtumWallet(janus, signer, consolidate_above=8, consolidate_inputs=5)
    signed = wallet.sign_call("22" * 20, "01", GAS)
    values = [u.value_sat for u in signed.spent]
    assert values[0] == 5 * COIN, "the first input (msg.sender's) is still the largest coin"
    assert values[1:] == [COIN // 10] * 5, "and five of the smallest are swept in"
    assert janus.send_raw_transaction(signed.raw_hex) == signed.txid
    few = QtumWallet(janus, _signer("few coins"))
    janus_double.fund(few.sender_hex, 5 * COIN)
    janus_double.fund(few.sender_hex, COIN // 10)
    assert len(few.sign_call("22" * 20, "01", GAS).spent) == 1


class LaggingJanus(JanusClient):
    """Lists the coins it saw first once more, as a node that has not caught up."""

    def __init__(self, url: str):
        super().__init__(url)
        self.stale = None

    def get_utxos(self, *args, mature_only=True, **kwargs):
        if mature_only and self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return super().get_utxos(*args, mature_only=mature_only, **kwargs)


def test_verify_error_with_the_coin_gone_rebuilds_from_other_coins(janus_double):
    signer = _signer("spent elsewhere")
    janus_double.fund(signer.hex_address, 3 * COIN)
    janus_double.fund(signer.hex_address, 2 * COIN)
    janus = LaggingJanus(janus_double.url)
    janus.stale = janus.get_utxos(signer.hex_address)
    # Another wallet of the same key spends the largest coin first.
    elsewhere = build_call_tx(signer, janus.get_utxos(signer.hex_address), "22" * 20, "", gas_limit=GAS)
    JanusClient(janus_double.url).send_raw_transaction(elsewhere.raw_hex)
    wallet = QtumWallet(janus, signer)
    txid = wallet.send_call("22" * 20, "01", gas_limit=GAS)  # first try: "verify error"
    assert wallet.wait_receipt(txid, timeout=10, poll_interval=0.05)["status"] == "0x1"
    assert janus.stale is None, "the stale list was used (and refused) first"


def test_get_logs_without_bounds_is_refused_by_the_client(janus_double):
    with pytest.raises(Exception, match="needs fromBlock and toBlock"):
        JanusClient(janus_double.url).get_logs({"address": "0x" + "22" * 20})
