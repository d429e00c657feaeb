"""What TCP meter links share: keepalive on the socket and a reconnect backoff.

A P1 dongle or a ser2net box that reboots leaves the gateway's TCP connection
half-open: nothing arrives and nothing says the connection is gone. Keepalive probes
find such a connection within about half a minute when the box is back (it answers
with a reset), and the adapters' read deadline (no byte within the read's timeout)
closes it and reconnects. Reconnect attempts after a failure are spaced by a doubling
backoff, so a dead box is not hammered.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from oracle.meters.base import MeterReadError

# Probe an idle connection after 10 s, every 5 s, give up after 3 unanswered probes.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3


def set_keepalive(sock: socket.socket) -> None:
    """Turns on TCP keepalive with short timers (where the platform has them)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                        ("TCP_KEEPCNT", KEEPALIVE_COUNT)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class Backoff:
    """When the next connection attempt may be made: at once after a first failure (a
    rebooted dongle is usually back by then), then `initial_s` after the second failure
    in a row, doubling per failure up to `max_s`; `succeeded` resets it."""

    def __init__(self, initial_s: float = 1.0, max_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.initial_s, self.max_s = initial_s, max_s
        self._monotonic = monotonic
        self.failures = 0
        self._next_attempt = 0.0

    def failed(self) -> float:
        """Records a failure; returns the wait before the next attempt."""
        self.failures += 1
        delay = 0.0 if self.failures == 1 else min(self.initial_s * 2 ** (self.failures - 2), self.max_s)
        self._next_attempt = self._monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._next_attempt = 0.0

    def check(self, what: str) -> None:
        """Raises `link_down` while the backoff after a failure is still running."""
        wait = self._next_attempt - self._monotonic()
        if wait > 0:
            raise MeterReadError("link_down", f"{what}: reconnecting in {wait:.1f}s "
                                              f"(after {self.failures} failure(s) in a row)")
