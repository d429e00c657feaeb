"""Stalled nonces on a real anvil: a batch dropped from the mempool is found and sent
again long before chain.resend_after_s, and a nonce gap that no batch of ours can fill
is filled, so the batches behind it are mined."""

from __future__ import annotations

import json
import urllib.request

import pytest
from eth_account import Account
from oracle_helpers import wait_for, wait_outbox

import oracle.nonces
from oracle.config import load_settings
from oracle.daemon import Daemon


class _Mining:
    """From ``manual()`` on, blocks only when the test mines them (the daemon's
    transactions wait in the pool); automine is back after the test."""

    def __init__(self, w3):
        self.w3 = w3

    def manual(self) -> None:
        self.w3.provider.make_request("evm_setAutomine", [False])

    def mine(self) -> None:
        self.w3.provider.make_request("evm_mine", [])


@pytest.fixture
def mining(w3):
    try:
        yield _Mining(w3)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])


def _counter(daemon: Daemon, reason: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f'energo_oracle_nonce_stalls_total{{reason="{reason}"}} '):
            return float(line.split()[1])
    return 0.0


def _known(w3, tx_hash: str) -> bool:
    return w3.provider.make_request("eth_getTransactionByHash", [tx_hash])["result"] is not None


def _start(raw, monkeypatch):
    monkeypatch.setattr(oracle.nonces, "NONCE_CHECK_EVERY_S", 0.2)
    settings = load_settings(None, **raw)
    daemon = Daemon(settings)
    daemon.start()
    return daemon, settings


def _sent_batch(outbox):
    return wait_for(lambda: next((b for b in outbox.open_batches() if b.status == "sent"), None), 30, "a batch sent")


def test_a_batch_dropped_from_the_mempool_is_sent_again_at_once(create_gateway, system, w3, monkeypatch, mining):
    # One reading, and no periodic resend within the test: only the watch can save it.
    raw, _ = create_gateway(meters=1, interval_s=3600, chain={"resend_after_s": 3600})
    mining.manual()
    daemon, settings = _start(raw, monkeypatch)
    try:
        outbox = wait_outbox(settings.outbox.path)
        batch = _sent_batch(outbox)
        assert _known(w3, batch.tx_id)
        w3.provider.make_request("anvil_dropTransaction", [batch.tx_id])
        assert not _known(w3, batch.tx_id), "the node forgot it"
        wait_for(lambda: _counter(daemon, "dropped") >= 1, 30, "the dropped transaction found")
        wait_for(lambda: _known(w3, batch.tx_id), 30, "the same transaction broadcast again")
        mining.mine()
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] == 1, 30, "the reading on-chain")
        wait_for(lambda: [r.status for r in outbox.readings_of(100)] == ["confirmed"], 30, "confirmed")
        assert w3.eth.get_transaction_receipt(batch.tx_id)["status"] == 1, "the very same transaction (same nonce)"
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0


def test_a_nonce_gap_no_batch_can_fill_is_filled(create_gateway, system, w3, monkeypatch, mining):
    raw, info = create_gateway(meters=1, interval_s=3600, chain={"resend_after_s": 3600})
    mining.manual()
    sender = Account.from_key(info["sender_key"])
    # Something else sends with the gateway's key (an operator's tool), and the node drops it.
    nonce = w3.eth.get_transaction_count(sender.address, "pending")
    other = sender.sign_transaction({"to": sender.address, "value": 0, "gas": 21_000, "gasPrice": 400 * 10**9,
                                     "nonce": nonce, "chainId": 8890})
    other_hash = "0x" + bytes(w3.eth.send_raw_transaction(other.raw_transaction)).hex()
    daemon, settings = _start(raw, monkeypatch)
    try:
        outbox = wait_outbox(settings.outbox.path)
        batch = _sent_batch(outbox)
        assert json.loads(batch.envelope)["nonce"] == nonce + 1, "the batch queued behind the other transaction"
        w3.provider.make_request("anvil_dropTransaction", [other_hash])
        wait_for(lambda: _counter(daemon, "gap") >= 1, 30, "the gap found and filled")
        mining.mine()
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] == 1, 30, "the batch behind the gap mined")
        wait_for(lambda: [r.status for r in outbox.readings_of(100)] == ["confirmed"], 30, "confirmed")
        assert w3.eth.get_transaction_count(sender.address, "latest") == nonce + 2
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0
