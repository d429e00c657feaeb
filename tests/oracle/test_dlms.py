"""DLMS/COSEM adapter against a small meter emulator speaking the IP wrapper protocol
(IEC 62056-47) on 127.0.0.1: AARQ/AARE association, GET of Register objects, release.
The emulator builds its APDUs with dlms-cosem's encoders; the adapter is the library's
client. Register values are A-XDR encoded here by hand."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from dlms_cosem import enumerations
from dlms_cosem.protocol import acse, xdlms
from dlms_cosem.protocol.acse.user_information import UserInformation
from dlms_cosem.protocol.xdlms.conformance import Conformance

from oracle.meters.base import MeterReadError, Registers
from oracle.meters.dlms import tcp_meter

IMPORT = bytes([1, 0, 1, 8, 0, 255])
EXPORT = bytes([1, 0, 2, 8, 0, 255])


def double_long_unsigned(value: int) -> bytes:
    return b"\x06" + value.to_bytes(4, "big")


def scaler_unit(scaler: int, unit: int) -> bytes:
    return b"\x02\x02" + b"\x0f" + scaler.to_bytes(1, "big", signed=True) + b"\x16" + bytes([unit])


class MeterEmulator:
    """Serves `objects`: (obis bytes, attribute) -> A-XDR encoded data."""

    def __init__(self, objects: dict[tuple[bytes, int], bytes], accept: bool = True, hang_up_on_get: bool = False):
        self.objects = objects
        self.accept = accept
        self.hang_up_on_get = hang_up_on_get
        self.requests: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(connection,), daemon=True).start()

    @staticmethod
    def _receive(connection, size):
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise ConnectionError
            data += chunk
        return data

    def _session(self, connection):
        with connection:
            try:
                while True:
                    _version, client, server, length = struct.unpack(">HHHH", self._receive(connection, 8))
                    reply = self._answer(self._receive(connection, length))
                    connection.sendall(struct.pack(">HHHH", 1, server, client, len(reply)) + reply)
            except (ConnectionError, OSError):
                return

    def _answer(self, apdu: bytes) -> bytes:
        if apdu[0] == acse.ApplicationAssociationRequest.TAG:
            self.requests.append("AARQ")
            result = enumerations.AssociationResult.ACCEPTED if self.accept else \
                enumerations.AssociationResult.REJECTED_PERMANENT
            diagnostics = enumerations.AcseServiceUserDiagnostics.NULL if self.accept else \
                enumerations.AcseServiceUserDiagnostics.NO_REASON_GIVEN
            return acse.ApplicationAssociationResponse(
                result=result, result_source_diagnostics=diagnostics,
                user_information=UserInformation(content=xdlms.InitiateResponse(
                    negotiated_conformance=Conformance(get=True, block_transfer_with_get_or_read=True),
                    server_max_receive_pdu_size=1024))).to_bytes()
        if apdu[0] == xdlms.GetRequestNormal.TAG:
            request = xdlms.GetRequestNormal.from_bytes(apdu)
            attribute = request.cosem_attribute
            key = (attribute.instance.to_bytes(), attribute.attribute)
            self.requests.append(f"GET {attribute.instance.to_string()}/{attribute.attribute}")
            if self.hang_up_on_get:
                raise ConnectionError("meter hangs up")
            # GET-Response-Normal, encoded by hand: tag C4, type 01, invoke-id-and-priority,
            # result choice 00 (data), then the A-XDR data.
            return b"\xc4\x01" + request.invoke_id_and_priority.to_bytes() + b"\x00" + self.objects[key]
        if apdu[0] == acse.ReleaseRequest.TAG:
            self.requests.append("RLRQ")
            return acse.ReleaseResponse(reason=enumerations.ReleaseResponseReason.NORMAL).to_bytes()
        raise ConnectionError(f"unexpected APDU {apdu.hex()}")

    def close(self):
        self._listener.close()


@pytest.fixture
def emulate():
    emulators = []

    def start(objects, **options):
        emulator = MeterEmulator(objects, **options)
        emulators.append(emulator)
        return emulator

    yield start
    for emulator in emulators:
        emulator.close()


def _objects(import_raw, export_raw, scaler=0, unit=30):
    return {
        (IMPORT, 2): double_long_unsigned(import_raw), (IMPORT, 3): scaler_unit(scaler, unit),
        (EXPORT, 2): double_long_unsigned(export_raw), (EXPORT, 3): scaler_unit(scaler, unit),
    }


def test_energy_registers_are_read_in_one_association(emulate):
    emulator = emulate(_objects(1_581_123, 2_045))
    assert tcp_meter("127.0.0.1", emulator.port, timeout_s=3).read() == Registers(1_581_123, 2_045)
    assert emulator.requests == ["AARQ", "GET 1-0:1.8.0.255/2", "GET 1-0:1.8.0.255/3",
                                 "GET 1-0:2.8.0.255/2", "GET 1-0:2.8.0.255/3", "RLRQ"]


def test_scaler_turns_the_raw_value_into_wh(emulate):
    emulator = emulate(_objects(158_112, 204, scaler=1))  # 10 Wh steps
    assert tcp_meter("127.0.0.1", emulator.port, timeout_s=3).read() == Registers(1_581_120, 2_040)


def test_a_register_not_in_wh_is_refused(emulate):
    emulator = emulate(_objects(1, 2, unit=27))  # 27 = W: a power, not an energy
    with pytest.raises(MeterReadError) as error:
        tcp_meter("127.0.0.1", emulator.port, timeout_s=3).read()
    assert error.value.reason == "bad_unit"


def test_a_refused_association_and_a_silent_meter_are_read_errors(emulate):
    emulator = emulate(_objects(1, 2), accept=False)
    with pytest.raises(MeterReadError):
        tcp_meter("127.0.0.1", emulator.port, timeout_s=3).read()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MeterReadError) as error:
        tcp_meter("127.0.0.1", port, timeout_s=1).read()
    assert error.value.reason == "no_answer"


def test_a_meter_hanging_up_mid_session_is_a_read_error_not_a_hang(emulate):
    emulator = emulate(_objects(1, 2), hang_up_on_get=True)
    with pytest.raises(MeterReadError) as error:
        tcp_meter("127.0.0.1", emulator.port, timeout_s=2).read()
    assert error.value.reason == "no_answer"


def test_a_configured_dlms_meter_is_built_from_its_source(emulate):
    from oracle.config import MeterSettings
    from oracle.meters import build_meter
    from oracle.meters.base import SystemClock

    emulator = emulate(_objects(42_000, 7))
    settings = MeterSettings(id=5, key={"keystore": "/k"},
                             source={"type": "dlms", "host": "127.0.0.1", "port": emulator.port, "timeout_s": 3})
    assert build_meter(settings, SystemClock()).read() == Registers(42_000, 7)


def test_a_silent_meter_on_a_serial_hdlc_line_is_a_read_error_not_a_hang():
    import os

    from oracle.meters.dlms import hdlc_meter

    controller, device = os.openpty()  # a serial line whose far end never answers
    try:
        with pytest.raises(MeterReadError) as error:
            hdlc_meter(os.ttyname(device), timeout_s=1).read()
        assert error.value.reason == "no_answer"
    finally:
        os.close(controller)
        os.close(device)
