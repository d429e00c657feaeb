"""A reorganisation deeper than the confirmations: readings the chain lost go back in
flight (the same transaction, so the same nonce: nothing stalls behind it)."""

from __future__ import annotations

from oracle_helpers import wait_for, wait_outbox

import oracle.submitter
from oracle.config import load_settings
from oracle.daemon import Daemon


def test_readings_lost_in_a_deep_reorg_are_sent_again(create_gateway, system, w3, monkeypatch):
    monkeypatch.setattr(oracle.submitter, "REORG_CHECK_EVERY_S", 0.1, raising=False)
    raw, _ = create_gateway(meters=1, confirmations=1, interval_s=3600, chain={"resend_after_s": 0.5})
    settings = load_settings(None, **raw)
    daemon = Daemon(settings)
    daemon.start()
    try:
        outbox = wait_outbox(settings.outbox.path)
        wait_for(lambda: [r.status for r in outbox.readings_of(100)] == ["confirmed"], 30, "the reading confirmed")
        assert system.ledger.functions.meter(100).call()[5] == 1
        settled = outbox.batch(1)
        depth = w3.eth.block_number - settled.block_number + 1
        # Deeper than the confirmations: the batch's block is replaced by empty ones.
        w3.provider.make_request("anvil_reorg", [depth, []])
        assert system.ledger.functions.meter(100).call()[5] == 0, "the chain lost the reading"
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] == 1, 30, "the reading on-chain again")
        wait_for(lambda: [r.status for r in outbox.readings_of(100)] == ["confirmed"], 30, "confirmed again")
        again = outbox.batch(1)
        assert again.status == "settled" and again.block_hash != settled.block_hash
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0
