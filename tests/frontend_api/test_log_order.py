"""The indexer fed logs as Janus and qtumd give them (issue 13, points 4 and 5): logIndex
numbered per receipt, a block's logs grouped by contract, and eth_call answered at the
latest block whatever the block tag. The index must come out as from anvil's own order."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from sqlalchemy import select
from web3 import HTTPProvider, Web3
from web3.logs import DISCARD

from energo.readings import MeterReading, ReadingDomain, ReadingSigner, pack_batch
from energo_deploy.localchain import Anvil
from frontend_api.indexer import handlers, schema
from frontend_api.indexer.db import make_engine
from frontend_api.indexer.engine import Indexer
from frontend_api.indexer.queries import IndexQueries


class JanusOrderProvider(HTTPProvider):
    """anvil's answers rearranged as Janus v0.4.3 over qtumd v27.1 would give them."""

    calls_with_a_block_tag = 0

    def make_request(self, method, params):
        if method == "eth_call" and len(params) > 1 and params[1] != "latest":
            type(self).calls_with_a_block_tag += 1
            params = [params[0], "latest"]  # pkg/eth/rpc_types.go reads the first parameter only
        response = super().make_request(method, params)
        if method == "eth_getLogs" and "result" in response:
            logs = sorted(response["result"], key=lambda x: (int(x["blockNumber"], 16), int(x["logIndex"], 16)))
            # Janus numbers logIndex within each receipt (pkg/conversion/util.go)...
            by_receipt: dict[str, int] = {}
            for item in logs:
                position = by_receipt.get(item["transactionHash"], 0)
                by_receipt[item["transactionHash"]] = position + 1
                item["logIndex"] = hex(position)
            # ...and qtumd's height index is keyed by contract (src/node/blockstorage.cpp):
            # a block's logs come grouped by address (here the battery's first).
            logs.sort(key=lambda x: (int(x["blockNumber"], 16), x["address"].lower() != self.first))
            response = {**response, "result": logs}
        return response


def _send(w3: Web3, sender: str, to: str, data: str) -> str:
    return w3.provider.make_request("eth_sendTransaction", [{
        "from": sender, "to": to, "data": data, "gas": hex(3_000_000), "gasPrice": hex(400 * 10**9),
        "type": "0x0"}])["result"]


def _one_block_of_many_transactions(scenario) -> int:
    """A meter registered with installation registers and read twice, and the battery
    meter reporting twice, in five transactions of one block; returns the block."""
    w3, ledger = scenario.w3, scenario.system.ledger
    meter_id, battery_id = 7, 100
    key = keccak(text=f"energo test meter {meter_id}")
    signer = ReadingSigner(key, ReadingDomain(w3.eth.chain_id, ledger.address))
    now = w3.eth.get_block("latest")["timestamp"] + 60
    w3.provider.make_request("evm_setNextBlockTimestamp", [now])
    supply = scenario.system.battery.functions.supplyWh().call()
    battery = scenario.registers[battery_id]
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        register = ledger.functions.registerMeter(meter_id, signer.address, scenario.households[4].address, 0,
                                                  4_000_000_000, 5_000, 2_000)._encode_transaction_data()
        hashes = [_send(w3, scenario.roles.registrar.address, ledger.address, register)]
        for seq, (imp, exp), soc in ((1, (5_100, 2_000), supply + 150), (2, (5_300, 2_500), supply + 400)):
            at = now + seq  # after the registration (the block's time), within the allowed skew
            signed = [signer.sign(MeterReading(meter_id, seq, at, imp, exp, 0))]
            battery[0] += 1
            signed.append(scenario.signers[battery_id].sign(MeterReading(battery_id, battery[0], at, 0, 0, soc)))
            data = ledger.functions.submitReadings(pack_batch(signed))._encode_transaction_data()
            # One sender for all, so the nonces fix the order within the block (anvil orders
            # equal-priced transactions of different senders as it likes).
            hashes.append(_send(w3, scenario.roles.registrar.address, ledger.address, data))
        w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert all(r["status"] == 1 for r in receipts), [(r["status"], r["gasUsed"]) for r in receipts]
    assert [r["transactionIndex"] for r in receipts] == [0, 1, 2]
    assert len({r["blockNumber"] for r in receipts}) == 1
    accepted = [e for r in receipts[1:] for e in ledger.events.ReadingAccepted().process_receipt(r, errors=DISCARD)]
    assert len(accepted) == 4, "every reading of the block is accepted"
    scenario.signers[meter_id] = signer
    scenario.registers[meter_id] = [2, 5_300, 2_500]
    return receipts[0]["blockNumber"]


def _index(w3: Web3, scenario, url: str) -> Indexer:
    system = scenario.system
    sources = [handlers.battery_source(system.battery.address, system.battery.abi),
               handlers.ledger_source(system.ledger.address, system.ledger.abi),
               handlers.market_source(scenario.market.address, scenario.market.abi)]
    indexer = Indexer(w3, make_engine(url), sources, chain_id=w3.eth.chain_id)
    indexer.sync_to_head()
    return indexer


def _rows(engine, table):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.c))]


@pytest.fixture
def crowded_block(own_chain) -> int:
    """Made once per session chain (the module is entered once per database kind)."""
    scenario = own_chain[1]
    if not hasattr(scenario, "crowded_block"):
        scenario.crowded_block = _one_block_of_many_transactions(scenario)
    return scenario.crowded_block


def test_janus_log_order_and_latest_only_calls_index_as_anvil_does(own_chain: tuple, crowded_block: int,
                                                                   db_factory):
    node, scenario, _path = own_chain
    assert isinstance(node, Anvil)
    block = crowded_block
    JanusOrderProvider.calls_with_a_block_tag = 0
    provider = JanusOrderProvider(node.url)
    provider.first = scenario.system.battery.address.lower()  # the battery's logs first, then the ledger's
    janus = _index(Web3(provider), scenario, db_factory("janus_order"))
    reference = _index(scenario.w3, scenario, db_factory("anvil_order"))

    with janus.engine.connect() as conn:
        readings = conn.execute(select(schema.readings).where(schema.readings.c.meter_id == 7)
                                .order_by(schema.readings.c.seq)).all()
        meter = conn.execute(select(schema.meters).where(schema.meters.c.meter_id == 7)).one()
    # The installation registers come from the registration's calldata, and each
    # reading's delta from the one before it in the chain's order.
    assert (meter.initial_import_wh, meter.initial_export_wh) == (5_000, 2_000)
    assert [(r.seq, r.import_delta_wh, r.export_delta_wh) for r in readings] == [(1, 100, 0), (2, 200, 500)]
    assert {r.block_number for r in readings} == {block}
    # The latest state of charge is the block's last report, not the last in the node's list.
    last = IndexQueries(janus.engine, scenario.market.address).last_state_of_charge()
    assert last.state_of_charge_wh == scenario.system.battery.functions.supplyWh().call(block_identifier=block - 1) + 400
    # Every table equals the index built from anvil's own order, row for row.
    for table in schema.LOG_TABLES:
        assert _rows(janus.engine, table) == _rows(reference.engine, table), table.name
    assert JanusOrderProvider.calls_with_a_block_tag == 0, "the indexer relied on a historical eth_call"
    janus.engine.dispose()
    reference.engine.dispose()
