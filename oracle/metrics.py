"""Prometheus metrics, on a registry per daemon so several gateways can share a process."""

from __future__ import annotations

import time
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.readings_read = Counter("energo_oracle_readings_read", "Meter reads that returned registers", ["meter"],
                                     registry=r)
        self.meter_errors = Counter("energo_oracle_meter_errors", "Meter reads that failed or were refused",
                                    ["meter", "reason"], registry=r)
        self.readings_signed = Counter("energo_oracle_readings_signed", "Readings signed and stored in the outbox",
                                       ["meter"], registry=r)
        self.readings_sent = Counter("energo_oracle_readings_sent", "Readings broadcast in a batch transaction",
                                     registry=r)
        self.readings_confirmed = Counter("energo_oracle_readings_confirmed",
                                          "Readings applied on-chain with enough confirmations", registry=r)
        self.readings_rejected = Counter("energo_oracle_readings_rejected", "Readings the ledger rejected",
                                         ["meter", "reason"], registry=r)
        self.batches = Counter("energo_oracle_batches", "Batch transactions by final state", ["state"], registry=r)
        self.keeper_runs = Counter("energo_oracle_keeper_runs", "Keeper work by task and result",
                                   ["task", "result"], registry=r)
        self.backlog = Gauge("energo_oracle_backlog", "Readings stored and not yet confirmed or rejected", registry=r)
        self.last_confirmed_age = Gauge("energo_oracle_last_confirmed_reading_age_seconds",
                                        "Seconds since the newest confirmed reading was taken", registry=r)
        self.chain_head = Gauge("energo_oracle_chain_head", "Newest block number seen", registry=r)
        self.consecutive_failures = Gauge("energo_oracle_consecutive_failures",
                                          "Submission failures in a row (the daemon exits at the limit)", registry=r)
        # Per meter: a dead meter shows up on its own, not averaged into the gateway.
        self.meter_last_read = Gauge("energo_oracle_meter_last_read_timestamp_seconds",
                                     "Wall time of the meter's last successful read", ["meter"], registry=r)
        self.meter_last_signed = Gauge("energo_oracle_meter_last_signed_timestamp_seconds",
                                       "Timestamp of the meter's newest signed reading", ["meter"], registry=r)
        self.meter_last_confirmed = Gauge("energo_oracle_meter_last_confirmed_timestamp_seconds",
                                          "Timestamp of the meter's newest confirmed reading", ["meter"], registry=r)
        self.meter_age = Gauge("energo_oracle_meter_last_confirmed_reading_age_seconds",
                               "Seconds since the meter's newest confirmed reading was taken (since the daemon "
                               "started when none is confirmed yet)", ["meter"], registry=r)
        self.meter_parked = Gauge("energo_oracle_meter_parked",
                                  "1 while the meter is parked (bad key, configuration or adapter)",
                                  ["meter", "reason"], registry=r)
        self.meter_foreign_readings = Gauge("energo_oracle_meter_foreign_readings",
                                            "1 when the chain holds readings of this meter that this gateway did "
                                            "not sign (another gateway signs for it)", ["meter"], registry=r)
        self.meter_foreign_events = Counter("energo_oracle_meter_foreign_readings_seen",
                                            "Readings of this meter accepted on-chain that this gateway never "
                                            "signed (from the ledger's ReadingAccepted events)", ["meter"],
                                            registry=r)
        self.sender_balance = Gauge("energo_oracle_sender_balance_wei", "The sender's balance", registry=r)
        self.sender_unfunded = Gauge("energo_oracle_sender_unfunded",
                                     "1 while the sender cannot pay for a batch", registry=r)
        self.pending_nonces = Gauge("energo_oracle_pending_transactions",
                                    "Batch transactions signed and not yet mined (pending nonces)", registry=r)
        self.nonce_stalls = Counter("energo_oracle_nonce_stalls",
                                    "Stalled nonces found and resolved, by reason (dropped, gap, not_mined)",
                                    ["reason"], registry=r)
        self.nonce_stalled = Gauge("energo_oracle_nonce_stalled",
                                   "1 while the last check found a batch transaction whose nonce stalls",
                                   registry=r)
        self.storage_ok = Gauge("energo_oracle_outbox_ok", "1 while the outbox is writable and passes quick_check",
                                registry=r)
        self.clock_skew = Gauge("energo_oracle_clock_skew_seconds",
                                "Gateway clock minus the chain head's timestamp", registry=r)
        self.meter_clock_skew = Gauge("energo_oracle_meter_clock_skew_seconds",
                                      "Gateway clock minus the meter's own clock (a DSMR telegram's 0-0:1.0.0), "
                                      "at the meter's newest read", ["meter"], registry=r)
        self.clock_refusing = Gauge("energo_oracle_clock_refusing",
                                    "1 while the gateway refuses to sign because its clock and the chain head's "
                                    "disagree beyond chain.max_clock_skew_s", registry=r)
        self._server: WSGIServer | None = None

    def watch_backlog(self, backlog: Callable[[], int], last_confirmed: Callable[[], float | None],
                      clock: Callable[[], float] = time.time) -> None:
        """Computed on each scrape from the outbox, so they can never drift from it."""
        self.backlog.set_function(backlog)

        def age() -> float:
            newest = last_confirmed()
            return float("nan") if newest is None else max(0.0, clock() - newest)

        self.last_confirmed_age.set_function(age)

    def watch_meter_age(self, meter_id: int, last_confirmed: Callable[[], float | None], since: float,
                        clock: Callable[[], float] = time.time) -> None:
        """The meter's age on each scrape; counts from `since` (the start) while nothing is confirmed."""
        def age() -> float:
            newest = last_confirmed()
            return max(0.0, clock() - (since if newest is None else newest))

        self.meter_age.labels(meter_id).set_function(age)
        self.meter_last_confirmed.labels(meter_id).set_function(lambda: last_confirmed() or float("nan"))

    def serve(self, host: str, port: int) -> int:
        """Starts the /metrics endpoint; returns the port (useful with port 0)."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
