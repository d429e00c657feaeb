"""Gateway benchmarks: signing speed, outbox-to-confirmed throughput, daemon memory.

Writes benchmarks/results/oracle.json:
- sign_per_s: readings signed and packed per second on one core (target >= 2,000)
- e2e_readings_per_s: pre-signed readings from the outbox to confirmed on the local
  anvil, batches of 50, the daemon's default of one batch in flight
- e2e_readings_per_s_4_in_flight: the same with four batches in flight
- rss_mb: peak resident memory (VmHWM) of the daemon process serving 50 simulated meters
  (target <= 100)
- bytes_written_per_reading: bytes the outbox sends to storage per reading (write_bytes of
  /proc/self/io, fsyncs and the final checkpoint included) over a 1,000-reading run of the
  daemon's outbox calls at its defaults: 50 meters read every 60 s, readings committed
  together every 20 s, a batch every 30 s (bar <= 2,600; one commit per reading on 4 KiB
  pages wrote ~24,000)
- startup_s_50_meters, startup_peak_rss_mb_50_meters: `python -m oracle run` with 50
  meters as the gateway is configured by default (no key per meter: the gateway's key,
  in a keystore at `energo-oracle keys new`'s default cost, scrypt n=2^14, signs for all
  of them), from exec to
  daemon.started, and the peak resident memory of the daemon and its key-decrypting
  workers together (startup_daemon_peak_rss_mb_50_meters: the daemon alone); bars 10 s
  and 150 MB. `python -m benchmarks.oracle_bench startup [own-keys] [SCRYPT_N]` measures
  other set-ups: 50 meters with a keystore each at eth-account's cost (n=2^18) took 202 s
  and 697 MB when first measured.
- upstream_telegrams_parsed / upstream_telegrams_total: dsmr_parser's own test telegrams of
  electricity meters (tests/oracle/data/dsmr_parser_telegrams.json) that the DSMR adapter
  frames and parses to the registers upstream's tests assert (bar: all)

Run: `python -m benchmarks.run oracle` (or `make bench`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account

from benchmarks.run import print_table, write_results
from energo.readings import MeterReading, ReadingDomain, ReadingSigner
from energo.tx import Sender
from energo_deploy.localchain import Anvil
from energo_deploy.system import Roles, deploy_system
from oracle.keys import GATEWAY_SCRYPT_N

ROOT = Path(__file__).resolve().parents[1]
METERS = 50
BATCH = 50


def bench_signing(count: int = 20_000) -> float:
    signer = ReadingSigner(bytes(range(1, 33)), ReadingDomain(8890, "0x" + "ab" * 20))
    started = time.perf_counter()
    for seq in range(count):
        signer.sign(MeterReading(7, seq + 1, 1_800_000_000 + seq, 1000 + seq, seq, 0)).record()
    return count / (time.perf_counter() - started)


def bench_upstream_telegrams() -> tuple[int, int]:
    """(parsed to the right registers, total) over dsmr_parser's electricity telegrams."""
    from oracle.meters.dsmr import TelegramDecoder, TelegramFramer, TelegramRejected

    document = json.loads((ROOT / "tests" / "oracle" / "data" / "dsmr_parser_telegrams.json").read_text())
    upstream = [t for t in document["telegrams"] if t["electricity"]]
    right = 0
    for entry in upstream:
        framed = TelegramFramer().feed(entry["telegram"].encode("latin-1").decode("ascii", errors="replace"))
        try:
            registers, _ = TelegramDecoder(entry["dsmr_version"]).decode(framed[-1]) if framed else (None, [])
        except TelegramRejected:
            continue
        if registers is not None and (registers.import_wh, registers.export_wh) == (entry["import_wh"],
                                                                                    entry["export_wh"]):
            right += 1
    return right, len(upstream)


def _write_bytes() -> int:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["write_bytes"])


def bench_wear(readings: int = 1000, meters: int = 50, interval_s: float = 60.0, batch_delay_s: float = 30.0,
               commit_interval_s: float = 20.0) -> float:
    """Bytes written per reading by the outbox's own write path, on a simulated clock:
    what the meter pollers (append) and the submitter (record, sent, mined, settled) do."""
    from oracle.outbox import Outbox, Settlement

    signer = ReadingSigner(bytes(range(1, 33)), ReadingDomain(8890, "0x" + "ab" * 20))
    now = [0.0]
    # A directory on the real disk (tmpfs writes are not counted by write_bytes).
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite", commit_interval_s=commit_interval_s, monotonic=lambda: now[0])
        os.sync()
        before = _write_bytes()
        seq: dict[int, int] = {}
        next_batch = batch_delay_s
        for index in range(readings):
            now[0] += interval_s / meters
            meter_id = index % meters + 1
            seq[meter_id] = seq.get(meter_id, 0) + 1
            outbox.append(signer.sign(MeterReading(meter_id, seq[meter_id], 1_800_000_000 + int(now[0]),
                                                   seq[meter_id] * 7, 0, 0)), now=now[0])
            outbox.flush_due()
            if now[0] >= next_batch:
                next_batch = now[0] + batch_delay_s
                pending = outbox.pending(50)
                if pending:
                    batch_id = outbox.record_batch([r.key for r in pending], "0x" + "11" * 32, b"e" * 400, now[0])
                    outbox.mark_sent(batch_id, now[0])
                    outbox.mark_mined(batch_id, 1, "0x" + "22" * 32)
                    outbox.settle_batch(batch_id, [Settlement(r.meter_id, r.seq, "confirmed", "accepted")
                                                   for r in pending], now[0])
        outbox.close()
        os.sync()
        return (_write_bytes() - before) / readings


def _deploy(node: Anvil):
    w3 = node.web3()
    accounts = w3.eth.accounts
    roles = Roles(admin=Sender(w3, accounts[0]), treasury=Sender(w3, accounts[1]),
                  operator=Sender(w3, accounts[2]), registrar=Sender(w3, accounts[3]))
    return w3, deploy_system(w3, roles)


def _fund(w3, address: str) -> None:
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**22,
                                  "gasPrice": 400 * 10**9, "type": 0})
    w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.01)


def _register(w3, system, meter_ids, signers) -> None:
    for meter_id, signer in zip(meter_ids, signers, strict=True):
        system.roles.registrar.transact(system.ledger.functions.registerMeter(
            meter_id, signer, w3.eth.accounts[5], 0, 100_000, 0, 0))


def bench_end_to_end(readings_per_meter: int = 40, in_flight: int = 1) -> float:
    from oracle.config import BatchSettings, ChainSettings
    from oracle.ledger import LedgerClient
    from oracle.logs import configure_logging, get_logger
    from oracle.metrics import Metrics
    from oracle.outbox import Outbox
    from oracle.submitter import Submitter
    from oracle.transport.evm import EvmTransport

    configure_logging("json", "warning", stream=open(os.devnull, "w"))
    with tempfile.TemporaryDirectory() as tmp, Anvil() as node:
        w3, system = _deploy(node)
        keys = [bytes(Account.create().key) for _ in range(METERS)]
        meter_ids = list(range(1, METERS + 1))
        _register(w3, system, meter_ids, [Account.from_key(k).address for k in keys])
        registered_at = w3.eth.get_block("latest")["timestamp"]
        # Readings one second apart, ending now: all valid, none in the future.
        w3.provider.make_request("evm_increaseTime", [readings_per_meter + 5])
        w3.provider.make_request("evm_mine", [])
        sender_key = bytes(Account.create().key)
        _fund(w3, Account.from_key(sender_key).address)
        domain = ReadingDomain(8890, system.ledger.address)
        outbox = Outbox(Path(tmp) / "outbox.sqlite")
        for seq in range(1, readings_per_meter + 1):
            for meter_id, key in zip(meter_ids, keys, strict=True):
                outbox.append(ReadingSigner(key, domain).sign(
                    MeterReading(meter_id, seq, registered_at + seq, seq * 5, seq, 0)))
        total = outbox.backlog()
        transport = EvmTransport(node.url, sender_key, chain_id=8890, gas_price_wei=400 * 10**9)
        chain = ChainSettings(chain_id=8890, ledger_address=system.ledger.address, confirmations=1)
        submitter = Submitter(outbox, LedgerClient(transport, system.ledger.address, 8890), chain,
                              BatchSettings(max_readings=BATCH, max_delay_s=0, max_in_flight=in_flight), Metrics(),
                              get_logger("bench"))
        started = time.perf_counter()
        deadline = time.monotonic() + 300
        while outbox.counts().get("confirmed", 0) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"end-to-end benchmark stalled: {outbox.counts()}")
            submitter.tick()
        elapsed = time.perf_counter() - started
        if outbox.counts() != {"confirmed": total}:
            raise RuntimeError(f"benchmark readings not all accepted: {outbox.counts()}")
        outbox.close()
        return total / elapsed


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


def _tree_rss_mb(pid: int) -> tuple[float, float]:
    """(the process's VmHWM, its own RSS plus its children's) in MB, now."""
    own_peak = _peak_rss_mb(pid)
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return own_peak, total / 1024


def _write_keystore_job(job: tuple[str, bytes, int]) -> str:
    from oracle.keys import write_keystore

    path, key, scrypt_n = job
    return write_keystore(Path(path), key, "bench", scrypt_n=scrypt_n)


def bench_startup(scrypt_n: int, meters: int = METERS, own_keys: bool = False) -> tuple[float, float, float]:
    """Start-up of `python -m oracle run` with `meters` meters, the keystores costing
    `scrypt_n`: (seconds to daemon.started, the daemon's peak RSS, peak RSS of the
    daemon and its key workers together), in MB. With own_keys each meter has a keystore
    of its own; otherwise the gateway's key signs for them all (the default)."""
    from concurrent.futures import ProcessPoolExecutor

    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    from oracle_helpers import to_toml

    with tempfile.TemporaryDirectory() as tmp, Anvil() as node:
        directory = Path(tmp)
        w3, system = _deploy(node)
        passfile = directory / "pass"
        passfile.write_text("bench")
        passfile.chmod(0o600)
        keys = [bytes(Account.create().key) for _ in range(meters + 1 if own_keys else 1)]
        jobs = [(str(directory / ("sender.json" if i == 0 else f"m{i}.json")), key, scrypt_n)
                for i, key in enumerate(keys)]
        with ProcessPoolExecutor(max_workers=2) as pool:
            addresses = list(pool.map(_write_keystore_job, jobs))
        _fund(w3, addresses[0])
        _register(w3, system, list(range(1, meters + 1)), addresses[1:] if own_keys else addresses[:1] * meters)
        config = directory / "gateway.toml"
        config.write_text(to_toml({
            "chain": {"rpc_url": node.url, "chain_id": 8890, "ledger_address": system.ledger.address,
                      "confirmations": 1, "poll_interval_s": 0.2},
            "sender": {"keystore": jobs[0][0], "passphrase_file": str(passfile)},
            "outbox": {"path": str(directory / "outbox.sqlite")},
            "metrics": {"enabled": True, "port": 0},
            "log": {"format": "json", "level": "info"},
            "meters": [{"id": i, "interval_s": 10.0, "source": {"type": "simulated_household", "seed": i},
                        **({"key": {"keystore": jobs[i][0], "passphrase_file": str(passfile)}} if own_keys else {})}
                       for i in range(1, meters + 1)],
        }))
        log = directory / "daemon.log"
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "oracle", "run", "--config", str(config)],
                                   stdout=open(log, "wb"), stderr=subprocess.PIPE, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        own_peak = tree_peak = 0.0
        try:
            while b'"daemon.started"' not in log.read_bytes():
                if process.poll() is not None:
                    raise RuntimeError(f"daemon exited: {process.stderr.read().decode()[-2000:]}")
                own, tree = _tree_rss_mb(process.pid)
                own_peak, tree_peak = max(own_peak, own), max(tree_peak, tree)
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            own, tree = _tree_rss_mb(process.pid)
            own_peak, tree_peak = max(own_peak, own), max(tree_peak, tree)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        return elapsed, own_peak, tree_peak


def startup_metrics(figures: tuple[float, float, float]) -> dict[str, float]:
    seconds, own_mb, tree_mb = figures
    return {"startup_s_50_meters": round(seconds, 1), "startup_peak_rss_mb_50_meters": round(tree_mb, 1),
            "startup_daemon_peak_rss_mb_50_meters": round(own_mb, 1)}


def bench_daemon_rss(run_s: float = 20.0) -> tuple[float, int]:
    """Peak RSS of `python -m oracle run` serving 50 simulated meters; also returns how
    many readings it confirmed meanwhile (a daemon that does nothing proves nothing)."""
    from oracle.keys import write_keystore
    from oracle.outbox import Outbox

    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    from oracle_helpers import to_toml

    with tempfile.TemporaryDirectory() as tmp, Anvil() as node:
        directory = Path(tmp)
        w3, system = _deploy(node)
        passfile = directory / "pass"
        passfile.write_text("bench")
        passfile.chmod(0o600)  # the daemon refuses secrets others can read
        # Cheap keystores: standard-cost ones are decrypted in a worker process, so
        # the key cost never shows in the daemon's own peak memory anyway.
        sender_key = bytes(Account.create().key)
        write_keystore(directory / "sender.json", sender_key, "bench", scrypt_n=2**10)
        _fund(w3, Account.from_key(sender_key).address)
        meters, signers = [], []
        for meter_id in range(1, METERS + 1):
            key = bytes(Account.create().key)
            signers.append(write_keystore(directory / f"m{meter_id}.json", key, "bench", scrypt_n=2**10))
            meters.append({"id": meter_id, "interval_s": 1.0,
                           "key": {"keystore": str(directory / f"m{meter_id}.json"), "passphrase_file": str(passfile)},
                           "source": {"type": "simulated_household", "seed": meter_id}})
        _register(w3, system, list(range(1, METERS + 1)), signers)
        config = directory / "gateway.toml"
        config.write_text(to_toml({
            "chain": {"rpc_url": node.url, "chain_id": 8890, "ledger_address": system.ledger.address,
                      "confirmations": 1, "poll_interval_s": 0.2},
            "sender": {"keystore": str(directory / "sender.json"), "passphrase_file": str(passfile)},
            "outbox": {"path": str(directory / "outbox.sqlite")},
            "batch": {"max_readings": BATCH, "max_delay_s": 1.0},
            "metrics": {"enabled": True, "port": 0},
            "log": {"format": "json", "level": "info"},
            "meters": meters,
        }))
        process = subprocess.Popen([sys.executable, "-m", "oracle", "run", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + run_s
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.5)
            if process.poll() is not None:
                raise RuntimeError(f"daemon exited early: {process.stderr.read().decode()[-2000:]}")
            peak = _peak_rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        confirmed = Outbox(directory / "outbox.sqlite", read_only=True).counts().get("confirmed", 0)
        return peak, confirmed


def main() -> dict[str, float]:
    sign = bench_signing()
    e2e = bench_end_to_end(in_flight=1)
    e2e4 = bench_end_to_end(in_flight=4)
    rss, confirmed = bench_daemon_rss()
    metrics = {"sign_per_s": round(sign, 1), "e2e_readings_per_s": round(e2e, 1),
               "e2e_readings_per_s_4_in_flight": round(e2e4, 1), "rss_mb": round(rss, 1),
               "rss_run_confirmed_readings": confirmed}
    wear = bench_wear()
    metrics["bytes_written_per_reading"] = round(wear)
    startup = bench_startup(GATEWAY_SCRYPT_N)  # the gateway's default: one keystore, `keys new`'s cost
    metrics.update(startup_metrics(startup))
    parsed, upstream_total = bench_upstream_telegrams()
    metrics.update(upstream_telegrams_parsed=parsed, upstream_telegrams_total=upstream_total)
    write_results("oracle", metrics)
    print_table("oracle gateway", [
        ("sign_per_s (one core)", sign, ">= 2,000"),
        ("e2e_readings_per_s (batches of 50)", e2e, "local anvil, 1 batch in flight"),
        ("e2e_readings_per_s_4_in_flight", e2e4, "local anvil, 4 batches in flight"),
        ("rss_mb (daemon, 50 meters)", rss, "<= 100"),
        ("readings confirmed during RSS run", confirmed, "> 0"),
        ("bytes_written_per_reading", wear, "<= 2,600"),
        ("startup_s_50_meters (default config and keystore)", startup[0], "<= 10"),
        ("startup_peak_rss_mb_50_meters (with key workers)", startup[2], "<= 150"),
        ("upstream_telegrams_parsed (dsmr_parser's)", parsed, f"all {upstream_total}"),
    ])
    return metrics


if __name__ == "__main__":
    if sys.argv[1:2] == ["startup"]:  # python -m benchmarks.oracle_bench startup [own-keys] [SCRYPT_N]
        own = "own-keys" in sys.argv[2:]
        numbers = [arg for arg in sys.argv[2:] if arg != "own-keys"]
        scrypt_n = int(numbers[0]) if numbers else GATEWAY_SCRYPT_N
        figures = bench_startup(scrypt_n, own_keys=own)
        print(figures)
        if scrypt_n == GATEWAY_SCRYPT_N and not own:  # the default: the figures the bars are about
            results = json.loads((ROOT / "benchmarks" / "results" / "oracle.json").read_text())
            results.update(startup_metrics(figures))
            write_results("oracle", results)
    elif sys.argv[1:] == ["wear"]:  # only this figure, merged into the results file
        results = json.loads((ROOT / "benchmarks" / "results" / "oracle.json").read_text())
        results["bytes_written_per_reading"] = round(bench_wear())
        write_results("oracle", results)
        print(results["bytes_written_per_reading"])
    else:
        main()
