"""An empty sender balance says so, with the address and the amount to fund, and the
daemon neither loops on restarts nor stops reading meters meanwhile."""

from __future__ import annotations

from daemon_process import DaemonProcess
from oracle_helpers import wait_for, wait_outbox


def test_an_unfunded_sender_is_named_with_the_amount_and_sending_resumes_once_funded(create_gateway, system, w3):
    raw, info = create_gateway(meters=1, failures={"backoff_initial_s": 0.01, "backoff_max_s": 0.05,
                                                   "max_consecutive": 3})
    sender = info["sender"]
    w3.provider.make_request("anvil_setBalance", [sender, "0x0"])
    daemon = DaemonProcess(raw, info["dir"]).start()
    try:
        unfunded = wait_for(lambda: [e for e in daemon.events() if e.get("event") == "sender.unfunded"], 60,
                            "the unfunded sender reported")[0]
        assert sender in unfunded["error"] and "has 0 wei" in unfunded["error"]
        assert "needs up to" in unfunded["error"] and f"Fund {sender} with at least" in unfunded["error"]
        outbox = wait_outbox(raw["outbox"]["path"])
        # Well past max_consecutive attempts: still up, still reading meters.
        wait_for(lambda: outbox.pending_count() >= 8, 30, "meters read into the outbox meanwhile")
        assert daemon.alive, daemon.stderr()[-2000:]
        assert not [e for e in daemon.events() if e.get("event") == "daemon.exit"]
        w3.provider.make_request("anvil_setBalance", [sender, hex(10**22)])
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 8, 60, "the backlog sent once funded")
        assert [e for e in daemon.events() if e.get("event") == "sender.funded"]
        assert daemon.terminate() == 0
    finally:
        if daemon.alive:
            daemon.kill9()
    reported = [e for e in daemon.events() if e.get("event") == "sender.unfunded"]
    assert len(reported) == 1, "said once, not once per retry"
