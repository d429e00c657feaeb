"""Meters with no key of their own: the gateway's key signs each batch once (`submitBatch`)."""

from __future__ import annotations

from oracle_helpers import accepted_readings, wait_for

from energo.artifacts import calldata
from energo.readings import MeterReading, ReadingSigner
from oracle.config import load_settings
from oracle.daemon import Daemon
from oracle.ledger import LedgerClient
from oracle.outbox import Outbox
from oracle.submitter import Submitter, batch_calldata


def _selector(name: str, *args) -> bytes:
    return calldata("MeterLedger", name, *args)[:4]


SUBMIT_BATCH = _selector("submitBatch", b"\0" * 40, 27, b"\0" * 32, b"\0" * 32)
SUBMIT_READINGS = _selector("submitReadings", b"\0" * 105)


def _confirmed(path, meter_id: int) -> list:
    outbox = Outbox(path, read_only=True)
    try:
        return [r for r in outbox.readings_of(meter_id) if r.status == "confirmed"]
    finally:
        outbox.close()


def _ledger_inputs(w3, ledger: str, sender: str) -> list[bytes]:
    """The calldata of every transaction the sender sent to the ledger."""
    inputs = []
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender and tx["to"] == ledger:
                inputs.append(bytes(tx["input"]))
    return inputs


def test_meters_without_keys_go_on_chain_under_one_gateway_signature(create_gateway, system, w3):
    raw, info = create_gateway(meters=3, gateway_key=True)
    assert all("key" not in meter for meter in raw["meters"]), "one keystore for the whole gateway"
    settings = load_settings(None, **raw)
    daemon = Daemon(settings)
    daemon.start()
    try:
        for meter_id in (100, 101, 102):
            wait_for(lambda m=meter_id: len(_confirmed(settings.outbox.path, m)) >= 3, 30,
                     f"3 confirmed readings of {meter_id}")
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0
    inputs = _ledger_inputs(w3, system.ledger.address, info["sender"])
    assert inputs and {data[:4] for data in inputs} == {SUBMIT_BATCH}
    events = accepted_readings(w3, system.ledger.address)
    for meter_id in (100, 101, 102):
        stored = _confirmed(settings.outbox.path, meter_id)
        on_chain = [e for e in events if e.meter_id == meter_id]
        assert [(e.seq, e.import_wh, e.export_wh) for e in on_chain] == \
            [(r.seq, r.import_wh, r.export_wh) for r in stored]


def test_a_batch_with_a_meter_of_its_own_key_keeps_a_signature_per_reading(system, tmp_path):
    """Mixed batches fall back to per-reading signatures, which the ledger checks meter by meter."""
    ledger = LedgerClient(None, system.ledger.address, 8890)
    gateway = ReadingSigner(b"\x11" * 32, ledger.domain)
    own = ReadingSigner(b"\x22" * 32, ledger.domain)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    try:
        outbox.append(gateway.sign(MeterReading(1, 1, 1_700_000_000, 10, 0)))
        outbox.append(own.sign(MeterReading(2, 1, 1_700_000_000, 10, 0)))
        outbox.flush()
        pending = outbox.pending(10)
        mixed = batch_calldata(pending, gateway, frozenset({1}))
        only_gateway = batch_calldata([r for r in pending if r.meter_id == 1], gateway, frozenset({1}))
    finally:
        outbox.close()
    assert mixed[:4] == SUBMIT_READINGS
    assert only_gateway[:4] == SUBMIT_BATCH


def test_batches_are_sized_to_the_gas_cap_and_none_is_sent_over_it(system, w3, tmp_path):
    """A batch the cap cannot carry is halved until it fits, and later batches keep that size."""
    from eth_account import Account
    from oracle_helpers import fund, register_meter

    from oracle.config import BatchSettings, ChainSettings
    from oracle.logs import get_logger
    from oracle.metrics import Metrics
    from oracle.transport.evm import EvmTransport

    key = bytes(Account.create().key)
    gateway = Account.from_key(key).address
    fund(w3, gateway)
    register_meter(system, 500, gateway, w3.eth.accounts[7])
    registered_at = system.ledger.functions.meter(500).call()[6]
    transport = EvmTransport(w3.provider.endpoint_uri, key, chain_id=8890, gas_price_wei=400 * 10**9)
    transport.max_tx_gas = 400_000
    ledger = LedgerClient(transport, system.ledger.address, 8890)
    signer = ReadingSigner(key, ledger.domain)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    try:
        for seq in range(1, 41):
            outbox.append(signer.sign(MeterReading(500, seq, registered_at + seq, seq * 10, 0)))
        outbox.flush()
        chain = ChainSettings(chain_id=8890, ledger_address=system.ledger.address, confirmations=1)
        submitter = Submitter(outbox, ledger, chain, BatchSettings(max_readings=50, max_delay_s=0.0, max_in_flight=8),
                              Metrics(), get_logger("test"), batch_signer=signer, batch_meters=frozenset({500}))
        for _ in range(20):
            submitter.tick()
            if all(r.status == "confirmed" for r in outbox.readings_of(500)):
                break
        assert [r.status for r in outbox.readings_of(500)] == ["confirmed"] * 40
    finally:
        outbox.close()
    sent = [tx for number in range(w3.eth.block_number + 1)
            for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]
            if tx["from"] == gateway and tx["to"] == system.ledger.address]
    assert len(sent) > 1 and all(tx["gas"] <= 400_000 for tx in sent)
    assert accepted_readings(w3, system.ledger.address)[-1].seq == 40
