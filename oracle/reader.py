"""Reading one meter: read, check, sign, store. One poller (thread) per meter.

A reading is signed only if it could be valid on-chain: its registers did not go down,
its timestamp is after the previous one, and the meter's sequence is known. Anything
else is logged with the meter and the reason, counted, and skipped; the loop goes on.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from energo.readings import UINT32_MAX, MeterReading, ReadingSigner
from oracle.errors import StorageError
from oracle.ledger import OnChainMeter
from oracle.meters.base import Clock, Meter, MeterReadError, Registers
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.timecheck import TimeGuard

RETRY_S = 1.0


@dataclass(frozen=True)
class Baseline:
    """What the next reading must exceed."""

    seq: int
    timestamp: int
    import_wh: int
    export_wh: int


class MeterPoller:
    def __init__(
        self,
        meter_id: int,
        kind: str,
        meter: Meter,
        signer: ReadingSigner,
        outbox: Outbox,
        clock: Clock,
        metrics: Metrics,
        log,
        interval_s: float,
    ):
        self.meter_id = meter_id
        self.kind = kind
        self.meter = meter
        self.signer = signer
        self.outbox = outbox
        self.clock = clock
        self.metrics = metrics
        self.log = log.bind(meter_id=meter_id)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self.retry_soon = False
        #: Why this meter is parked (not read, not signed), or None.
        self.parked: str | None = None
        #: Refuses signing while the clocks disagree (oracle.timecheck.TimeGuard), or None.
        self.time_guard: TimeGuard | None = None
        last = outbox.last_reading(meter_id)
        self.baseline: Baseline | None = (
            Baseline(last.seq, last.timestamp, last.import_wh, last.export_wh) if last else None
        )

    @property
    def ready(self) -> bool:
        """A meter with no stored reading waits for the chain's state before signing:
        starting at seq 1 on a meter the chain knows would get every reading dropped."""
        return self.baseline is not None

    def adopt_chain_state(self, on_chain: OnChainMeter) -> None:
        """Moves the baseline up to what the ledger has (a reinstalled gateway, a lost outbox)."""
        chain = Baseline(on_chain.last_seq, on_chain.last_timestamp, on_chain.import_wh, on_chain.export_wh)
        with self._lock:
            mine = self.baseline
            if mine is None:
                self.baseline = chain
                return
            if chain.seq > mine.seq:
                self.log.error("meter.outbox_behind_chain", outbox_seq=mine.seq, chain_seq=chain.seq,
                               detail="the ledger has readings this outbox never stored; continuing after them")
            self.baseline = Baseline(
                max(mine.seq, chain.seq),
                max(mine.timestamp, chain.timestamp),
                max(mine.import_wh, chain.import_wh),
                max(mine.export_wh, chain.export_wh),
            )

    def _refuse(self, reason: str, **details) -> None:
        self.metrics.meter_errors.labels(self.meter_id, reason).inc()
        self.log.warning("meter.reading_refused", reason=reason, **details)

    def poll_once(self) -> MeterReading | None:
        """One unit of work: returns the stored reading, or None (logged why)."""
        self.retry_soon = False
        if self.outbox.fault is not None or self.parked is not None:
            # Never read into a store that cannot be written (the daemon is stopping),
            # nor for a parked meter.
            return None
        if not self.ready:
            self.log.info("meter.waiting_for_chain_state")
            self.retry_soon = True
            return None
        try:
            registers = self.meter.read()
        except MeterReadError as exc:
            self._refuse(exc.reason, detail=exc.detail)
            return None
        except Exception as exc:  # an adapter bug must not stop the gateway
            self._refuse("adapter_error", detail=f"{type(exc).__name__}: {exc}")
            return None
        self.metrics.readings_read.labels(self.meter_id).inc()
        self.metrics.meter_last_read.labels(self.meter_id).set(time.time())
        if self.kind == "household" and registers.state_of_charge_wh:
            registers = dataclasses.replace(registers, state_of_charge_wh=0)
        with self._lock:
            return self._sign_and_store(registers)

    def _sign_and_store(self, registers: Registers) -> MeterReading | None:
        last = self.baseline
        assert last is not None
        if registers.import_wh < last.import_wh or registers.export_wh < last.export_wh:
            self._refuse("register_decreased", import_wh=registers.import_wh, export_wh=registers.export_wh,
                         last_import_wh=last.import_wh, last_export_wh=last.export_wh)
            return None
        guard = self.time_guard
        if guard is not None:
            refusal = guard.refusal
            if refusal is None and registers.meter_time is not None:
                skew = guard.clock.now() - registers.meter_time
                self.metrics.meter_clock_skew.labels(self.meter_id).set(skew)
                refusal = guard.check_meter_time(registers.meter_time)
            if refusal:
                self._refuse("clock_disagrees", detail=refusal)
                return None
        timestamp = int(self.clock.now())
        if timestamp == last.timestamp:
            # Polled twice within one second: nothing to sign yet, nothing wrong; with a
            # long interval, try again in a second rather than skip a whole interval.
            self.log.debug("meter.same_second", timestamp=timestamp)
            self.retry_soon = True
            return None
        if timestamp < last.timestamp:
            self._refuse("clock_behind_last_reading", timestamp=timestamp, last_timestamp=last.timestamp)
            return None
        if last.seq >= UINT32_MAX:
            self._refuse("sequence_exhausted", seq=last.seq)
            return None
        reading = MeterReading(self.meter_id, last.seq + 1, timestamp, registers.import_wh, registers.export_wh,
                               registers.state_of_charge_wh)
        signed = self.signer.sign(reading)
        try:
            self.outbox.append(signed, now=time.time())
        except StorageError as exc:
            # Not stored, so never sent: the meter's registers only go up, and the next
            # reading after the restart covers this one.
            self.log.error("meter.store_failed", seq=reading.seq, error=exc.user_message)
            return None
        self.baseline = Baseline(reading.seq, timestamp, reading.import_wh, reading.export_wh)
        self.metrics.readings_signed.labels(self.meter_id).inc()
        self.metrics.meter_last_signed.labels(self.meter_id).set(timestamp)
        self.log.info("reading.stored", seq=reading.seq, timestamp=timestamp, import_wh=reading.import_wh,
                      export_wh=reading.export_wh, state_of_charge_wh=reading.state_of_charge_wh)
        return reading

    def run(self, stop: threading.Event, on_crash=None) -> None:
        """Polls until `stop`; an unexpected error parks this meter alone (``on_crash``)."""
        try:
            next_due = time.monotonic()
            while not stop.is_set():
                self.poll_once()
                next_due += min(self.interval_s, RETRY_S) if self.retry_soon else self.interval_s
                # A slow meter must not make the loop race to catch up.
                next_due = max(next_due, time.monotonic())
                stop.wait(next_due - time.monotonic())
        except Exception as exc:
            if on_crash is None:
                raise
            on_crash(self.meter_id, f"{type(exc).__name__}: {exc}")
        finally:
            try:
                self.meter.close()
            except Exception as exc:
                self.log.warning("meter.close_failed", error=f"{type(exc).__name__}: {exc}")
