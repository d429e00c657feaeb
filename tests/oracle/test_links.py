"""Meter links that go half-open: a real TCP peer on loopback that stops answering
without closing (a P1 dongle or ser2net box rebooting, a Modbus gateway hanging).
The adapters must notice by their read deadline, reconnect, back off when reconnecting
fails, and keep TCP keepalive on their sockets."""

from __future__ import annotations

import select
import socket
import threading

import pytest
from dsmr_telegrams import telegram
from oracle_helpers import wait_for
from test_sunspec import BASE, SunSpecServer, common_model, image, meter_203

from oracle.meters.base import MeterReadError, Registers
from oracle.meters.dsmr import DsmrMeter, TcpLink
from oracle.meters.links import KEEPALIVE_IDLE_S, Backoff
from oracle.meters.sunspec import SunSpecDevice, SunSpecMeter, tcp_client


class HalfOpenPeer:
    """Accepts every connection and keeps it open; sends only on the newest one. `freeze`
    makes the current connection silent for good without closing it: half-open."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append(connection)

    def send_on(self, index: int, data: bytes) -> None:
        wait_for(lambda: len(self.connections) > index, 5, f"connection #{index + 1}")
        self.connections[index].sendall(data)

    def close(self):
        self._listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def peer():
    server = HalfOpenPeer()
    yield server
    server.close()


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_p1_link_that_goes_half_open_is_reconnected(peer):
    meter = DsmrMeter(TcpLink("127.0.0.1", peer.port), "v5", timeout_s=0.3)
    threading.Timer(0.02, peer.send_on, [0, telegram(1000, 0, 0, 0)]).start()
    assert meter.read() == Registers(1000, 0)
    # The dongle reboots: the old connection stays open on our side and says nothing more.
    # Only a new connection gets telegrams again.
    threading.Thread(target=peer.send_on, args=[1, telegram(2000, 0, 7, 0)], daemon=True).start()
    with pytest.raises(MeterReadError) as silent:
        meter.read()
    assert silent.value.reason == "link_timeout"
    assert meter.read() == Registers(2000, 7)
    assert len(peer.connections) == 2
    meter.close()


def test_p1_socket_has_keepalive(peer):
    link = TcpLink("127.0.0.1", peer.port)
    assert link.receive(0.0) == b""
    sock = link._socket
    assert sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE_S
    link.close()


def test_p1_reconnects_back_off_while_the_peer_stays_silent(peer):
    clock = FakeMonotonic()
    link = TcpLink("127.0.0.1", peer.port, backoff=Backoff(1.0, 4.0, monotonic=clock))
    meter = DsmrMeter(link, "v5", timeout_s=0.1)
    reasons = []
    for _ in range(3):  # silent, reconnect at once and silent again, then wait 1 s
        with pytest.raises(MeterReadError) as error:
            meter.read()
        reasons.append(error.value.reason)
    assert reasons == ["link_timeout", "link_timeout", "link_down"]
    assert link.connects == 2
    clock.now += 1.0
    with pytest.raises(MeterReadError):
        meter.read()
    assert link.connects == 3 and link.backoff.failures == 3
    with pytest.raises(MeterReadError) as waiting:
        meter.read()
    assert waiting.value.reason == "link_down" and "reconnecting in 2.0s" in waiting.value.detail
    # Once the peer talks again the backoff is over.
    clock.now += 2.0
    threading.Thread(target=peer.send_on, args=[3, telegram(5000, 0, 0, 0)], daemon=True).start()
    assert meter.read() == Registers(5000, 0)
    assert link.backoff.failures == 0
    meter.close()


class FreezingProxy:
    """A TCP proxy in front of a real Modbus server; `freeze` stops forwarding on the
    connections open now (they stay open: half-open), new connections pass."""

    def __init__(self, target_port: int):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = target_port
        self._frozen: set[int] = set()
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=[self.accepted, client, upstream], daemon=True).start()

    def _pump(self, number: int, client: socket.socket, upstream: socket.socket):
        pair = {client: upstream, upstream: client}
        while True:
            try:
                ready, _, _ = select.select(list(pair), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(4096)
                    if not data:
                        return
                    if number not in self._frozen:
                        pair[sock].sendall(data)
            except OSError:
                return

    def freeze(self) -> None:
        self._frozen = set(range(1, self.accepted + 1))

    def hang(self) -> None:
        """Every connection, open or new, accepted and never answered."""
        self._frozen = set(range(1, 1000))

    def revive(self) -> None:
        self._frozen = set(range(1, self.accepted + 1))

    def close(self):
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def modbus():
    server = SunSpecServer(image(common_model(), meter_203(import_wh=11_000, export_wh=2_000)))
    proxy = FreezingProxy(server.port)
    yield proxy
    proxy.close()
    server.close()


def test_modbus_link_that_goes_half_open_is_reconnected_with_keepalive(modbus):
    device = SunSpecDevice(tcp_client("127.0.0.1", modbus.port, 0.3), 1, BASE)
    meter = SunSpecMeter(device, "meter")
    assert meter.read() == Registers(11_000, 2_000)
    sock = device._client.socket
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE_S
    modbus.freeze()
    with pytest.raises(MeterReadError) as silent:
        meter.read()
    assert silent.value.reason == "no_answer"
    assert meter.read() == Registers(11_000, 2_000)  # a new connection: reconnected at once
    assert modbus.accepted == 2
    meter.close()


def test_modbus_reconnects_back_off_after_repeated_failures(modbus):
    clock = FakeMonotonic()
    device = SunSpecDevice(tcp_client("127.0.0.1", modbus.port, 0.2), 1, BASE,
                           backoff=Backoff(1.0, 8.0, monotonic=clock))
    meter = SunSpecMeter(device, "meter")
    assert meter.read() == Registers(11_000, 2_000)
    modbus.hang()
    reasons = []
    for _ in range(3):  # no answer, reconnect at once and no answer again, then wait 1 s
        with pytest.raises(MeterReadError) as error:
            meter.read()
        reasons.append(error.value.reason)
    assert reasons == ["no_answer", "no_answer", "link_down"]
    assert modbus.accepted == 2
    modbus.revive()
    clock.now += 1.0
    assert meter.read() == Registers(11_000, 2_000)
    assert modbus.accepted == 3 and device.backoff.failures == 0
    meter.close()


class DongleThatReboots:
    """A P1-to-Ethernet dongle: pushes a DSMR 5 telegram every 0.1 s on its newest
    connection. `reboot` leaves the current connection open and silent for good (the
    gateway's side is half-open); only a connection made after it gets telegrams."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.live_from = 0  # connections before this index are the dead dongle's
        self.wh = 2_000_000
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._push, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.connections.append(self._listener.accept()[0])
            except OSError:
                return

    def _push(self):
        while not self._stop.wait(0.1):  # the meter's own pace
            if len(self.connections) > self.live_from:
                self.wh += 10
                try:
                    self.connections[-1].sendall(telegram(self.wh, 1000, 0, 0))
                except OSError:
                    pass

    def reboot(self) -> int:
        self.live_from = len(self.connections)
        return self.wh + 1000

    def close(self):
        self._stop.set()
        self._listener.close()
        for connection in self.connections:
            connection.close()


class RepeatingFeed:
    """A P1-over-TCP feed repeating one telegram every 0.1 s to whoever connects."""

    def __init__(self, data: bytes):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._data = data
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection = self._listener.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._push, args=[connection], daemon=True).start()

    def _push(self, connection: socket.socket):
        with connection:
            while not self._stop.wait(0.1):
                try:
                    connection.sendall(self._data)
                except OSError:
                    return

    def close(self):
        self._stop.set()
        self._listener.close()


def test_daemon_reads_upstream_q3d_and_keeps_reading_a_dongle_through_its_reboot(create_gateway, system, w3):
    """One gateway, two P1-over-TCP meters: dsmr_parser's EasyMeter Q3D telegram (totals
    only, 7 decimals, no CRC, the COM-1 gateway's trailing bytes), and a DSMR 5 dongle
    that reboots, leaving the gateway's connection half-open."""
    from daemon_process import DaemonProcess
    from eth_account import Account
    from oracle_helpers import register_meter
    from test_dsmr_upstream import UPSTREAM

    from oracle.outbox import Outbox

    q3d = next(t for t in UPSTREAM["telegrams"] if t["name"] == "TELEGRAM_ESY5Q3DB1024_V304")
    feed = RepeatingFeed(q3d["telegram"].encode("latin-1"))
    dongle = DongleThatReboots()
    settings, info = create_gateway(meters=2, register=False, interval_s=0.3,
                                    source={"type": "dsmr", "url": f"tcp://127.0.0.1:{dongle.port}", "timeout_s": 0.5})
    settings["meters"][1]["source"] = {"type": "dsmr", "url": f"tcp://127.0.0.1:{feed.port}", "dsmr_version": "q3d",
                                       "timeout_s": 0.5}
    for meter_id, import_wh, export_wh in ((100, 2_000_000, 0), (101, q3d["import_wh"], q3d["export_wh"])):
        register_meter(system, meter_id, Account.from_key(info["meter_keys"][meter_id]).address,
                       w3.eth.accounts[6], rated_power_w=500_000, import_wh=import_wh, export_wh=export_wh)
    path = settings["outbox"]["path"]

    def confirmed(meter_id: int) -> list[tuple[int, int]]:
        return [(r.import_wh, r.export_wh) for r in Outbox(path, read_only=True).readings_of(meter_id)
                if r.status == "confirmed"]

    daemon = DaemonProcess(settings, info["dir"]).start()
    try:
        wait_for(lambda: len(confirmed(100)) >= 2, 60, "readings before the reboot")
        last_before = dongle.reboot()
        wait_for(lambda: max(confirmed(100))[0] > last_before, 60, "readings after the dongle came back")
        wait_for(lambda: confirmed(101), 30, "a confirmed Q3D reading")
        assert daemon.terminate() == 0
    finally:
        dongle.close()
        feed.close()
        if daemon.alive:
            daemon.kill9()
    assert set(confirmed(101)) == {(q3d["import_wh"], q3d["export_wh"])}
    events = daemon.events()
    refused = [e for e in events if e.get("event") == "meter.reading_refused"]
    assert "link_timeout" in {e["reason"] for e in refused if e["meter_id"] == 100}
    assert not [e for e in events if e.get("event") == "meter.telegram_rejected" and e["meter_id"] == 101]
    assert len(dongle.connections) >= 2
