"""The gateway daemon: meter pollers (one thread each) and the submit loop (this thread).

Lifecycle: load keys -> open the outbox -> verify the chain and the contract -> start
the pollers and the metrics endpoint -> submit until stopped -> drain -> exit.

Exit codes: 0 after a clean stop (SIGTERM), 1 after too many failures in a row (the
supervisor restarts us), 2 for a configuration that restarting cannot fix.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from energo.readings import ReadingSigner
from oracle.config import GatewaySettings
from oracle.errors import ConfigError, DeploymentMismatch, GaveUp, OracleError
from oracle.keeper import build_keepers
from oracle.keys import load_keys
from oracle.ledger import LedgerClient
from oracle.logs import get_logger
from oracle.meters import build_meter
from oracle.meters.base import AcceleratedClock, Clock, Meter, SystemClock
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.reader import MeterPoller
from oracle.submitter import Submitter
from oracle.transport import TransportError, build_transport
from oracle.transport.base import Transport

VERIFIED_KEY = "verified_deployment"
SIMULATION_ORIGIN_KEY = "simulation_origin"
PRUNE_EVERY_S = 3600.0


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
        return SystemClock()
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
        except Exception as exc:
            self.exit_code = 1
            self.log.exception("daemon.crashed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._stopped.set()
        return self.exit_code

    def _run(self) -> int:
        settings = self.settings
        chain = settings.chain
        sender_key, meter_keys = self._keys()
        try:
            self.outbox = outbox = Outbox(settings.outbox.path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the outbox {settings.outbox.path}: {exc}") from None
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
            for meter_settings, key in zip(settings.meters, meter_keys, strict=True):
                meter = self._meter_overrides.get(meter_settings.id) or build_meter(
                    meter_settings, self.clock, log=self.log.bind(meter_id=meter_settings.id), origin=origin)
                signer = ReadingSigner(key, ledger.domain)
                self.pollers.append(MeterPoller(meter_settings.id, meter_settings.kind, meter, signer, outbox,
                                                self.clock, self.metrics, self.log, meter_settings.interval_s))
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
            submitter = Submitter(outbox, ledger, chain, settings.batch, self.metrics, self.log)
            keepers = build_keepers(settings.keepers, transport, self.metrics, self.log, chain.resend_after_s)
            threads = [threading.Thread(target=p.run, args=(self._stop,), name=f"meter-{p.meter_id}", daemon=True)
                       for p in self.pollers]
            for thread in threads:
                thread.start()
            self.log.info("daemon.started", meters=[p.meter_id for p in self.pollers], sender=transport.sender,
                          ledger=ledger.address, chain_id=chain.chain_id, verified=verified,
                          metrics_port=self.metrics_port, outbox=str(settings.outbox.path))
            verified = self._submit_loop(outbox, submitter, keepers, ledger, backoff, verified)
            for thread in threads:
                thread.join(timeout=30)
            if verified:  # never send to a chain or contract we have not checked
                self._drain(outbox, submitter)
            self.log.info("daemon.stopped", backlog=outbox.backlog())
            return 0
        finally:
            self._stop.set()
            self.metrics.close()
            transport.close()
            outbox.close()

    def _keys(self) -> tuple[bytes, list[bytes]]:
        """The sender's key and each meter's, decrypting only the keystores needed."""
        names: list[str | int] = ["sender"] + [meter.id for meter in self.settings.meters]
        refs = [self.settings.sender] + [meter.key for meter in self.settings.meters]
        missing = [(name, ref) for name, ref in zip(names, refs, strict=True) if name not in self._given_keys]
        loaded = dict(zip([name for name, _ in missing], load_keys([ref for _, ref in missing]), strict=True))
        keys = [self._given_keys[name] if name in self._given_keys else loaded[name].private_key for name in names]
        return keys[0], keys[1:]

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
        ledger.verify()
        for poller in self.pollers:
            on_chain = ledger.meter(poller.meter_id)
            if not on_chain.registered:
                self.log.warning("meter.not_registered", meter_id=poller.meter_id, signer=poller.signer.address,
                                 detail="its readings will be rejected as UnknownMeter until it is registered")
                poller.adopt_chain_state(on_chain)
                continue
            if on_chain.signer != poller.signer.address:
                raise DeploymentMismatch(
                    f"meter {poller.meter_id} is registered with signer {on_chain.signer}, but its keystore holds "
                    f"the key of {poller.signer.address}: wrong keystore for this meter")
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
            try:
                if not verified:
                    self._check_deployment(ledger)
                    verified = True
                    outbox.set_meta(VERIFIED_KEY, f"{ledger.domain.chain_id}:{ledger.address}")
                    self.log.info("chain.verified")
                submitter.tick()
                self._run_keepers(keepers)
                self._prune(outbox)
            except (ConfigError, GaveUp):
                raise
            except TransportError as exc:
                self._failed(backoff, exc, "submit")
                continue
            except Exception as exc:  # a bug or a disk error: count it like a failure, keep its trace
                self.log.exception("submit.unexpected_error")
                self._failed(backoff, exc, "submit")
                continue
            backoff.succeeded()
            self.metrics.consecutive_failures.set(0)
            self._stop.wait(poll)
        return verified

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
