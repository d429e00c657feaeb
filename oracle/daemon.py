"""The gateway daemon: meter pollers (one thread each) and the submit loop (this thread).

Lifecycle: load keys -> open the outbox -> verify the chain and the contract -> start
the pollers and the metrics endpoint -> submit until stopped -> drain -> exit.

Exit codes: 0 after a clean stop (SIGTERM), 1 after too many failures in a row (the
supervisor restarts us), 2 for a configuration that restarting cannot fix (the sender's
key, the chain or contract, or every meter parked), 3 when the outbox cannot be written
(disk full, I/O error, corrupt pages): the daemon stops reading meters into a store it
cannot write and exits; after a restart it goes on once the store is writable again.

Isolation: one meter with a bad key, configuration or adapter is *parked* (logged,
``energo_oracle_meter_parked``); its neighbours go on.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
import time

from energo.readings import READING_ACCEPTED_TOPIC, ReadingSigner, decode_reading_events
from oracle.config import GatewaySettings
from oracle.errors import (
    ConfigError,
    DeploymentMismatch,
    GaveUp,
    KeystoreError,
    OracleError,
    SenderUnfunded,
    StorageError,
)
from oracle.keeper import build_keepers
from oracle.keys import LoadedKey, load_keys_each
from oracle.ledger import LedgerClient
from oracle.logs import get_logger
from oracle.meters import build_meter
from oracle.meters.base import AcceleratedClock, Clock, Meter
from oracle.metrics import Metrics
from oracle.nonces import NonceWatch
from oracle.outbox import Outbox, open_outbox
from oracle.reader import MeterPoller
from oracle.sdnotify import notify
from oracle.submitter import Submitter
from oracle.timecheck import AnchoredClock, TimeGuard
from oracle.transport import TransportError, build_transport
from oracle.transport.base import Transport

VERIFIED_KEY = "verified_deployment"
SIMULATION_ORIGIN_KEY = "simulation_origin"
PRUNE_EVERY_S = 3600.0
#: ``PRAGMA quick_check`` at start and then this often.
QUICK_CHECK_EVERY_S = 3600.0
#: Readings are committed together at most this long after the first (outbox.commit_interval_s).
DEFAULT_COMMIT_INTERVAL_S = 20.0
#: How often the gateway's clock is compared with the chain head's timestamp.
CLOCK_CHECK_EVERY_S = 30.0
#: How often each meter's on-chain state is compared with what this gateway signed
#: (transports that cannot read the chain's events).
FOREIGN_CHECK_EVERY_S = 60.0
#: How often the ledger's ReadingAccepted events of our meters are read, and how many
#: blocks one eth_getLogs asks for at most; the scan's next block is kept in the outbox.
FOREIGN_SCAN_EVERY_S = 30.0
FOREIGN_SCAN_MAX_BLOCKS = 2000
FOREIGN_SCAN_KEY = "foreign_scan_next_block"
#: After a longer gap the scan resumes this many blocks behind the head (a week on Qtum).
FOREIGN_SCAN_RESUME_BLOCKS = 20_000
#: An unfunded sender is checked again (and said again) this often; never a restart loop.
UNFUNDED_RETRY_S = 60.0


class Backoff:
    """Capped exponential backoff: initial, 2x, 4x ... up to the cap."""

    def __init__(self, initial_s: float, max_s: float):
        self.initial_s, self.max_s = initial_s, max_s
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        return min(self.max_s, self.initial_s * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0


def clock_from_settings(settings: GatewaySettings) -> Clock:
    simulation = settings.simulation
    if simulation.start_timestamp is None and simulation.speed == 1.0:
        return AnchoredClock()
    start = simulation.start_timestamp if simulation.start_timestamp is not None else time.time()
    return AcceleratedClock(start, simulation.speed)


class Daemon:
    """One gateway. ``run()`` blocks until ``stop()`` (or a fatal error) and returns the exit code.

    clock:      timestamps of readings and time of simulated meters (demo: accelerated).
    meters:     adapters by meter id, replacing those the config would build (tests, demo).
    transport:  replaces the configured transport (tests).
    keys:       private keys already at hand, by "sender" or meter id; their keystores
                are then not read (in-process demos with throwaway keys).
    """

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        clock: Clock | None = None,
        meters: dict[int, Meter] | None = None,
        transport: Transport | None = None,
        keys: dict[str | int, bytes] | None = None,
    ):
        self.settings = settings
        self.clock = clock or clock_from_settings(settings)
        self.log = get_logger("oracle")
        self.metrics = Metrics()
        self._meter_overrides = meters or {}
        self._transport_override = transport
        self._given_keys = keys or {}
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self.metrics_port: int | None = None
        self.outbox: Outbox | None = None
        self.pollers: list[MeterPoller] = []
        self.exit_code: int | None = None
        self._next_prune = 0.0
        self._next_quick_check = 0.0
        self._next_foreign_check = 0.0
        self._next_unfunded_log = 0.0
        #: Parked meters: id -> why (bad key, configuration, adapter, signer); a [[meters]]
        #: entry without a readable id goes by its position ("meters[3]").
        self.parked: dict[int | str, str] = {}
        #: Readings of our meters on the chain that this gateway never signed, by meter.
        self.foreign_readings: dict[int, list[dict]] = {}
        self._started_at = time.time()
        self._unfunded = False
        self._next_clock_check = 0.0
        self.time_guard: TimeGuard | None = None
        self._nonce_watch: NonceWatch | None = None

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Asks the daemon to drain and exit (safe from signal handlers and other threads)."""
        self._stop.set()

    def start(self) -> threading.Thread:
        """Runs the daemon in a background thread (in-process gateways for the demo)."""
        thread = threading.Thread(target=self.run, name=f"gateway-{id(self):x}", daemon=True)
        thread.start()
        return thread

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        try:
            self.exit_code = self._run()
        except OracleError as exc:
            self.exit_code = exc.exit_code
            self.log.error("daemon.exit", exit_code=exc.exit_code, error=exc.user_message,
                           error_type=type(exc).__name__)
            notify(f"STATUS=exit {exc.exit_code}: {exc.user_message[:200]}")
        except Exception as exc:
            self.exit_code = 1
            self.log.exception("daemon.crashed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._stopped.set()
        return self.exit_code

    def _run(self) -> int:
        settings = self.settings
        chain = settings.chain
        for index, (meter_id, message) in sorted(settings.invalid_meters.items()):
            self._park(meter_id if meter_id is not None else f"meters[{index}]", "config", message)
        sender_key, meter_keys = self._keys()
        try:
            self.outbox = outbox = open_outbox(settings.outbox.path, self.log)
            outbox.commit_interval_s = self._commit_interval()
        except OSError as exc:
            raise ConfigError(f"cannot open the outbox {settings.outbox.path}: {exc}") from None
        self._private_outbox(settings.outbox.path)
        self._next_quick_check = time.time() + QUICK_CHECK_EVERY_S  # open_outbox just checked it
        self.metrics.storage_ok.set(1)
        transport = self._transport_override or build_transport(chain, sender_key)
        ledger = LedgerClient(transport, chain.ledger_address, chain.chain_id)
        self.log = self.log.bind(gateway=transport.sender[:10])
        backoff = Backoff(settings.failures.backoff_initial_s, settings.failures.backoff_max_s)
        try:
            # Simulated registers must continue across restarts, so they count from a
            # time the outbox remembers.
            origin_text = outbox.get_meta(SIMULATION_ORIGIN_KEY)
            if origin_text is None:
                origin_text = str(int(self.clock.now()))
                outbox.set_meta(SIMULATION_ORIGIN_KEY, origin_text)
            origin = float(origin_text)
            for meter_settings in settings.meters:
                if meter_settings.id not in meter_keys:
                    continue  # parked by _keys
                try:
                    meter = self._meter_overrides.get(meter_settings.id) or build_meter(
                        meter_settings, self.clock, log=self.log.bind(meter_id=meter_settings.id), origin=origin)
                    signer = ReadingSigner(meter_keys[meter_settings.id], ledger.domain)
                except Exception as exc:  # one meter's adapter or settings: park it alone
                    self._park(meter_settings.id, "adapter", f"cannot set up its adapter: {type(exc).__name__}: "
                                                             f"{exc}")
                    continue
                self.pollers.append(MeterPoller(meter_settings.id, meter_settings.kind, meter, signer, outbox,
                                                self.clock, self.metrics, self.log, meter_settings.interval_s))
                self.metrics.watch_meter_age(meter_settings.id,
                                             functools.partial(outbox.last_confirmed_timestamp_of, meter_settings.id),
                                             self._started_at)
            self._all_parked()
            if isinstance(self.clock, AnchoredClock):  # real time; a demo's accelerated clock is its own
                self.time_guard = TimeGuard(self.clock, chain.max_clock_skew_s, self.log, self.metrics)
                for poller in self.pollers:
                    poller.time_guard = self.time_guard
            # Ready for systemd once keys and outbox are good; from now on the watchdog is fed.
            notify("READY=1", f"STATUS=starting {len(self.pollers)} meters")
            verified = self._verify(ledger, outbox, backoff)
            if self._stop.is_set():  # stopped while waiting for the chain
                return 0
            self.metrics.watch_backlog(outbox.backlog, outbox.last_confirmed_timestamp, self.clock.now)
            if settings.metrics.enabled:
                try:
                    self.metrics_port = self.metrics.serve(settings.metrics.host, settings.metrics.port)
                except OSError as exc:
                    raise ConfigError(f"cannot serve metrics on {settings.metrics.host}:{settings.metrics.port}: "
                                      f"{exc.strerror} (metrics.port)") from None
            submitter = Submitter(outbox, ledger, chain, settings.batch, self.metrics, self.log,
                                  batch_signer=ReadingSigner(sender_key, ledger.domain),
                                  batch_meters=frozenset(m.id for m in settings.meters if m.key is None))
            self._nonce_watch = NonceWatch(outbox, transport, self.metrics, self.log)
            keepers = build_keepers(settings.keepers, transport, self.metrics, self.log, chain.resend_after_s)
            if verified:  # the clock before the first reading is signed
                try:
                    self._check_clock(transport)
                except TransportError as exc:
                    self.log.warning("clock.check_failed", error=exc.user_message)
            threads = [threading.Thread(target=p.run, args=(self._stop, self._crashed), name=f"meter-{p.meter_id}",
                                        daemon=True)
                       for p in self.pollers]
            for thread in threads:
                thread.start()
            self.log.info("daemon.started", meters=[p.meter_id for p in self.pollers if p.parked is None],
                          parked=sorted(self.parked, key=str) or None, sender=transport.sender,
                          ledger=ledger.address, chain_id=chain.chain_id, verified=verified,
                          metrics_port=self.metrics_port, outbox=str(settings.outbox.path))
            notify(f"STATUS=reading {len(self.pollers)} meters")
            verified = self._submit_loop(outbox, submitter, keepers, ledger, backoff, verified)
            for thread in threads:
                thread.join(timeout=30)
            outbox.flush()  # what the meters read last goes out with the drain
            notify("STOPPING=1")
            if verified:  # never send to a chain or contract we have not checked
                self._drain(outbox, submitter)
            self.log.info("daemon.stopped", backlog=outbox.backlog())
            return 0
        finally:
            self._stop.set()
            self.metrics.close()
            transport.close()
            outbox.close()

    def _commit_interval(self) -> float:
        configured = self.settings.outbox.commit_interval_s
        if configured is not None:
            return configured
        return min([DEFAULT_COMMIT_INTERVAL_S] + [meter.interval_s for meter in self.settings.meters])

    def _keys(self) -> tuple[bytes, dict[int, bytes]]:
        """The sender's key and each meter's, decrypting only the keystores needed.

        A meter whose keystore is missing, unreadable, too open or undecryptable is
        parked; the sender's is needed by all, so its failure stops the daemon."""
        own_keys = [meter for meter in self.settings.meters if meter.key is not None]
        names: list[str | int] = ["sender"] + [meter.id for meter in own_keys]
        refs = [self.settings.sender] + [meter.key for meter in own_keys if meter.key is not None]
        missing = [(name, ref) for name, ref in zip(names, refs, strict=True) if name not in self._given_keys]
        loaded: dict[str | int, LoadedKey | KeystoreError] = dict(zip(
            [name for name, _ in missing], load_keys_each([ref for _, ref in missing], require_private=True),
            strict=True))
        keys: dict[str | int, bytes] = {}
        for name in names:
            if name in self._given_keys:
                keys[name] = self._given_keys[name]
                continue
            result = loaded[name]
            if isinstance(result, LoadedKey):
                keys[name] = result.private_key
            elif name == "sender":
                raise result
            else:
                assert isinstance(name, int)
                self._park(name, "key", result.user_message)
        meter_keys = {name: key for name, key in keys.items() if isinstance(name, int)}
        # A meter with no key of its own is signed for by the gateway's key: one keystore
        # to decrypt however many meters the gateway serves.
        meter_keys.update({meter.id: keys["sender"] for meter in self.settings.meters if meter.key is None})
        return keys["sender"], meter_keys

    def _park(self, meter_id: int | str, reason: str, message: str) -> None:
        """Takes one meter out of service, alone; its neighbours go on."""
        self.parked[meter_id] = message
        for poller in self.pollers:
            if poller.meter_id == meter_id:
                poller.parked = message
        self.metrics.meter_parked.labels(meter_id, reason).set(1)
        self.log.error("meter.parked", meter_id=meter_id, reason=reason, error=message,
                       detail="this meter is not read or signed until fixed and restarted; the others go on")

    def _crashed(self, meter_id: int, message: str) -> None:
        self._park(meter_id, "adapter", f"its poller crashed: {message}")

    def _all_parked(self) -> None:
        """With every configured meter parked there is nothing to do: a configuration error."""
        configured = [meter.id for meter in self.settings.meters]
        if (configured or self.settings.invalid_meters) and all(meter_id in self.parked for meter_id in configured):
            reasons = "; ".join(f"meter {m}: {why}" for m, why in sorted(self.parked.items(), key=lambda i: str(i[0])))
            raise ConfigError(f"every meter is parked: {reasons}")

    def _private_outbox(self, path) -> None:
        """The outbox holds signed readings: owner-only, like the keys."""
        for suffix in ("", "-wal", "-shm"):
            file = path.with_name(path.name + suffix)
            try:
                mode = stat.S_IMODE(file.stat().st_mode)
            except OSError:
                continue
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(file, 0o600)
                self.log.warning("outbox.permissions_tightened", file=str(file), was=f"{mode:04o}", now="0600")

    # ------------------------------------------------------------------ start-up checks

    def _verify(self, ledger: LedgerClient, outbox: Outbox, backoff: Backoff) -> bool:
        """Checks chain and contract; returns False if the node is unreachable but this
        outbox already verified the same deployment (then meters are read meanwhile)."""
        fingerprint = f"{ledger.domain.chain_id}:{ledger.address}"
        while not self._stop.is_set():
            try:
                self._check_deployment(ledger)
                outbox.set_meta(VERIFIED_KEY, fingerprint)
                backoff.succeeded()
                return True
            except DeploymentMismatch:
                raise
            except TransportError as exc:
                if outbox.get_meta(VERIFIED_KEY) == fingerprint:
                    self.log.warning("chain.unreachable_at_start", error=exc.user_message,
                                     detail="deployment verified earlier; reading meters, checking again later")
                    return False
                self._failed(backoff, exc, "verify")
        return False

    def _check_deployment(self, ledger: LedgerClient) -> None:
        ledger.verify(batches=any(meter.key is None for meter in self.settings.meters))
        self._check_meters(ledger)
        self._all_parked()

    def _check_meters(self, ledger: LedgerClient) -> None:
        for poller in self.pollers:
            on_chain = ledger.meter(poller.meter_id)
            if not on_chain.registered:
                self.log.warning("meter.not_registered", meter_id=poller.meter_id, signer=poller.signer.address,
                                 detail="its readings will be rejected as UnknownMeter until it is registered")
                poller.adopt_chain_state(on_chain)
                continue
            if poller.parked is not None:
                continue
            if on_chain.signer != poller.signer.address:
                self._park(poller.meter_id, "wrong_signer",
                           f"meter {poller.meter_id} is registered with signer {on_chain.signer}, but its keystore "
                           f"holds the key of {poller.signer.address}: wrong keystore for this meter")
                continue
            if not on_chain.active:
                self.log.warning("meter.revoked", meter_id=poller.meter_id,
                                 detail="its readings will be rejected as MeterRevoked")
            poller.adopt_chain_state(on_chain)

    def _failed(self, backoff: Backoff, exc: Exception, stage: str) -> None:
        delay = backoff.failed()
        self.metrics.consecutive_failures.set(backoff.failures)
        message = exc.user_message if isinstance(exc, OracleError) else f"{type(exc).__name__}: {exc}"
        limit = self.settings.failures.max_consecutive
        self.log.warning("chain.failure", stage=stage, error=message, failures=backoff.failures, limit=limit,
                         retry_in_s=delay)
        if backoff.failures >= limit:
            raise GaveUp(f"giving up after {backoff.failures} failures in a row ({stage}); last error: {message}")
        notify("WATCHDOG=1")
        self._stop.wait(delay)

    # ------------------------------------------------------------------ submitting

    def _run_keepers(self, keepers) -> None:
        # Keeper duties are extra: a misconfigured market or a failing clearing call is
        # logged, and never counts against the readings' failure budget.
        for task in keepers:
            try:
                task.tick(time.time())
            except TransportError as exc:
                self.metrics.keeper_runs.labels(task.name.split(":")[0], "failed").inc()
                self.log.warning("keeper.failed", task=task.name, error=exc.user_message)

    def _prune(self, outbox: Outbox) -> None:
        """Forgets old resolved readings now and then, so months of running stay small."""
        now = time.time()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY_S
        removed = outbox.prune_confirmed(now - self.settings.outbox.keep_confirmed_days * 86_400)
        if removed:
            self.log.info("outbox.pruned", readings_removed=removed)

    def _submit_loop(self, outbox: Outbox, submitter: Submitter, keepers, ledger: LedgerClient, backoff: Backoff,
                     verified: bool) -> bool:
        """Runs until stopped; returns whether the deployment was verified."""
        poll = self.settings.chain.poll_interval_s
        while not self._stop.is_set():
            notify("WATCHDOG=1")
            try:
                outbox.flush_due()
                self._check_storage(outbox)
                if not verified:
                    self._check_deployment(ledger)
                    verified = True
                    outbox.set_meta(VERIFIED_KEY, f"{ledger.domain.chain_id}:{ledger.address}")
                    self.log.info("chain.verified")
                self._check_clock(ledger.transport)
                submitter.tick()
                if self._nonce_watch is not None:
                    self._nonce_watch.tick()
                if self._unfunded:
                    self._unfunded = False
                    self._next_unfunded_log = 0.0
                    self.metrics.sender_unfunded.set(0)
                    self.log.info("sender.funded", sender=ledger.transport.sender)
                self._run_keepers(keepers)
                self._prune(outbox)
                self._check_foreign(ledger, outbox)
            except (ConfigError, GaveUp, StorageError):
                raise
            except SenderUnfunded as exc:
                # Restarting cannot fund the sender: say so now and then, keep reading meters.
                self._unfunded = True
                self.metrics.sender_unfunded.set(1)
                if time.time() >= self._next_unfunded_log:
                    self._next_unfunded_log = time.time() + UNFUNDED_RETRY_S * 10
                    self.log.error("sender.unfunded", error=exc.user_message,
                                   detail="meters are still read into the outbox; sending resumes once funded")
                    notify(f"STATUS=sender unfunded: {exc.user_message[:200]}")
                backoff.succeeded()
                self._stop.wait(min(UNFUNDED_RETRY_S, max(poll, 1.0)))
                continue
            except TransportError as exc:
                self._failed(backoff, exc, "submit")
                continue
            except Exception as exc:  # a bug: count it like a failure, keep its trace
                if outbox.fault is not None:
                    raise StorageError(outbox.fault) from None
                self.log.exception("submit.unexpected_error")
                self._failed(backoff, exc, "submit")
                continue
            backoff.succeeded()
            self.metrics.consecutive_failures.set(0)
            self._stop.wait(poll)
        return verified

    def _check_clock(self, transport: Transport) -> None:
        """The gateway's clock against the chain head's timestamp, now and then; at every
        pass while signing is refused, so it resumes as soon as the clocks agree."""
        now = time.monotonic()
        if self.time_guard is None or (now < self._next_clock_check and self.time_guard.refusal is None):
            return
        read_block = getattr(transport, "head_block", None)
        read = getattr(transport, "head_timestamp", None)
        if read_block is None and read is None:
            return
        self._next_clock_check = now + CLOCK_CHECK_EVERY_S
        if read_block is not None:
            number, timestamp = read_block()
            self.time_guard.check(timestamp, number)
        elif read is not None:
            self.time_guard.check(read())

    def _check_storage(self, outbox: Outbox) -> None:
        """Stops the daemon on the outbox's first write error; runs quick_check on schedule."""
        if outbox.fault is not None:
            self.metrics.storage_ok.set(0)
            raise StorageError(outbox.fault)
        now = time.time()
        if now < self._next_quick_check:
            return
        self._next_quick_check = now + QUICK_CHECK_EVERY_S
        findings = outbox.quick_check()
        if findings:
            self.metrics.storage_ok.set(0)
            outbox.fault = (f"outbox {outbox.path} fails PRAGMA quick_check: {'; '.join(findings[:5])} (the daemon "
                            "moves it aside and starts a new outbox from the chain's state at its next start)")
            raise StorageError(outbox.fault)
        self.log.debug("outbox.quick_check_ok")

    def _check_foreign(self, ledger: LedgerClient, outbox: Outbox) -> None:
        """Another gateway signing for one of our meters: from the chain's events when the
        transport can read them (every accepted reading of our meters that this gateway
        never signed), else from each meter's newest on-chain reading."""
        now = time.time()
        if now < self._next_foreign_check:
            return
        read_logs = getattr(ledger.transport, "logs", None)
        if read_logs is not None:
            self._next_foreign_check = now + FOREIGN_SCAN_EVERY_S
            self._scan_foreign_events(ledger, outbox, read_logs)
            return
        self._next_foreign_check = now + FOREIGN_CHECK_EVERY_S
        for poller in self.pollers:
            if poller.parked is not None:
                continue
            on_chain = ledger.meter(poller.meter_id)
            if not on_chain.registered or on_chain.last_seq == 0:
                continue
            ours = outbox.reading(poller.meter_id, on_chain.last_seq)
            newest = outbox.last_reading(poller.meter_id)
            if ours is None:
                foreign = newest is not None and on_chain.last_seq > newest.seq
            else:
                foreign = (ours.timestamp, ours.import_wh, ours.export_wh) != (
                    on_chain.last_timestamp, on_chain.import_wh, on_chain.export_wh)
            self.metrics.meter_foreign_readings.labels(poller.meter_id).set(1 if foreign else 0)
            if foreign:
                self.log.error("meter.foreign_readings", meter_id=poller.meter_id, chain_seq=on_chain.last_seq,
                               chain_timestamp=on_chain.last_timestamp, chain_import_wh=on_chain.import_wh,
                               chain_export_wh=on_chain.export_wh, our_seq=newest.seq if newest else None,
                               detail="the ledger holds a reading of this meter that this gateway did not sign: "
                                      "another gateway has its key (two gateways for one meter); stop one")

    def _scan_foreign_events(self, ledger: LedgerClient, outbox: Outbox, read_logs) -> None:
        """Reads the ledger's ReadingAccepted events of our meters since the last scan (the
        first scan starts at the head: what came before was adopted at start). An event
        whose (meter, seq) this outbox does not hold with the same time and registers was
        signed by someone else with the meter's key."""
        meters = sorted(p.meter_id for p in self.pollers if p.parked is None)
        if not meters:
            return
        head = ledger.transport.head()
        stored = outbox.get_meta(FOREIGN_SCAN_KEY)
        start = head + 1 if stored is None else min(int(stored), head + 1)
        if head - start > FOREIGN_SCAN_RESUME_BLOCKS:
            # Down for long: readings this old may be pruned from the outbox, and would
            # all look foreign. Their meters' state was adopted at start.
            self.log.info("meter.foreign_scan_skipped", from_block=start, to_block=head - FOREIGN_SCAN_RESUME_BLOCKS)
            start = head - FOREIGN_SCAN_RESUME_BLOCKS
        if stored is None:
            outbox.set_meta(FOREIGN_SCAN_KEY, str(start))
        topics = ["0x" + READING_ACCEPTED_TOPIC.hex(), ["0x" + meter_id.to_bytes(32, "big").hex() for meter_id in meters]]
        while start <= head:
            end = min(head, start + FOREIGN_SCAN_MAX_BLOCKS - 1)
            for log in read_logs(ledger.address, topics, start, end):
                for event in decode_reading_events([log], ledger.address):
                    ours = outbox.reading(event.meter_id, event.seq)
                    if ours is not None and (ours.timestamp, ours.import_wh, ours.export_wh) == (
                            event.timestamp, event.import_wh, event.export_wh):
                        continue
                    self._foreign_event(ledger, event, log, ours is not None)
            start = end + 1
            outbox.set_meta(FOREIGN_SCAN_KEY, str(start))

    def _foreign_event(self, ledger: LedgerClient, event, log, signed_other: bool) -> None:
        tx_hash = log.get("transactionHash")
        sent_by = None
        read_sender = getattr(ledger.transport, "transaction_from", None)
        if read_sender is not None and tx_hash:
            try:
                sent_by = read_sender(tx_hash)
            except TransportError:
                sent_by = None
        block = log.get("blockNumber")
        self.foreign_readings.setdefault(event.meter_id, []).append(
            {"seq": event.seq, "tx_hash": tx_hash, "sent_by": sent_by})
        self.metrics.meter_foreign_readings.labels(event.meter_id).set(1)
        self.metrics.meter_foreign_events.labels(event.meter_id).inc()
        self.log.error("meter.foreign_readings", meter_id=event.meter_id, chain_seq=event.seq,
                       chain_timestamp=event.timestamp, chain_import_wh=event.import_wh,
                       chain_export_wh=event.export_wh, tx_hash=tx_hash, sent_by=sent_by,
                       sent_by_us=sent_by == ledger.transport.sender if sent_by else None,
                       block_number=int(block, 16) if isinstance(block, str) else block,
                       we_signed_this_seq=signed_other,
                       detail="the ledger accepted a reading of this meter that this gateway never signed: "
                              "another gateway has its key (two gateways for one meter); stop one")

    def _drain(self, outbox: Outbox, submitter: Submitter) -> None:
        """On stop: send what is pending now and wait (bounded) until nothing is unmined."""
        deadline = time.monotonic() + self.settings.batch.drain_timeout_s
        while time.monotonic() < deadline:
            try:
                submitter.tick(draining=True)
                if submitter.in_flight() == 0 and outbox.pending_count() == 0:
                    return
            except TransportError as exc:
                self.log.warning("drain.failure", error=exc.user_message)
            time.sleep(min(self.settings.chain.poll_interval_s, max(0.0, deadline - time.monotonic())))
        self.log.warning("drain.timeout", backlog=outbox.backlog(),
                         detail="the rest stays in the outbox for the next start")


def run_in_process(settings_list: list[GatewaySettings], clock: Clock | None = None,
                   keys_list: list[dict[str | int, bytes]] | None = None) -> list[Daemon]:
    """Starts several gateways in this process (the demo's community), sharing one clock.

    ``keys_list[i]`` gives gateway i's keys ("sender" and meter ids) instead of keystores.
    Stop them with ``for d in daemons: d.stop()`` then ``d.wait_stopped()``.
    """
    keys_list = keys_list or [{} for _ in settings_list]
    daemons = [Daemon(settings, clock=clock, keys=keys) for settings, keys in zip(settings_list, keys_list,
                                                                                     strict=True)]
    for daemon in daemons:
        daemon.start()
    return daemons
