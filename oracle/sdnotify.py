"""systemd's notify protocol (sd_notify(3)): one datagram to $NOTIFY_SOCKET per call.

``READY=1`` once started (Type=notify), ``WATCHDOG=1`` from the submit loop (WatchdogSec=),
``STATUS=...`` for `systemctl status`, ``STOPPING=1`` while draining. Without
NOTIFY_SOCKET (not under systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket


def notify(*lines: str) -> bool:
    """Sends `lines` as one message; returns whether it was sent. Never raises."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not lines:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
        return True
    except OSError:
        return False
