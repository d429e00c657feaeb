"""The indexer on both databases: resume after a restart, confirmations, reorgs (anvil_reorg)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from frontend_api.core.config import Settings
from frontend_api.indexer import schema
from frontend_api.main import build_context


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def _context(node, path, url, **extra):
    settings = Settings(deployments=path, rpc_url=node.url, database_url=url, run_indexer=True, **extra)
    return build_context(settings)


def test_resumes_where_it_stopped(own_chain, db_factory):
    node, scenario, path = own_chain
    url = db_factory("resume")
    first = _context(node, path, url, log_batch_blocks=5)
    first.indexer.sync_once()  # one batch only: a "crash" in the middle of the history
    partial = first.indexer.indexed_block()
    assert partial == 4
    first.engine.dispose()
    second = _context(node, path, url, log_batch_blocks=5)
    assert second.indexer.indexed_block() == partial
    head = second.indexer.sync_to_head()
    assert head == scenario.w3.eth.block_number
    reference = _context(node, path, db_factory("resume_ref"))
    reference.indexer.sync_to_head()
    for table in (schema.readings, schema.trades, schema.orders, schema.meters, schema.tsl_moves):
        assert _count(second.engine, table) == _count(reference.engine, table) > 0, table.name


def test_waits_for_confirmations(own_chain, db_factory):
    node, scenario, path = own_chain
    ctx = _context(node, path, db_factory("confirm"), confirmations=3)
    assert ctx.indexer.sync_to_head() == scenario.w3.eth.block_number - 3


def test_rolls_back_a_reorg_and_reindexes(own_chain, db_factory):
    node, scenario, path = own_chain
    w3 = scenario.w3
    ctx = _context(node, path, db_factory("reorg"))
    ctx.indexer.sync_to_head()
    readings_before = _count(ctx.engine, schema.readings)
    # Two more readings blocks, indexed...
    scenario.read({1: (100, 0)})
    scenario.read({2: (0, 300)})
    ctx.indexer.sync_to_head()
    assert _count(ctx.engine, schema.readings) == readings_before + 2
    old_head = w3.eth.get_block("latest")
    # ...then replaced by a reorg of depth 3 whose blocks hold none of those transactions.
    w3.provider.make_request("anvil_reorg", [3, []])
    assert w3.eth.get_block(old_head["number"])["hash"] != old_head["hash"]
    ctx.indexer.sync_once()
    assert ctx.indexer.reorgs == 1
    assert _count(ctx.engine, schema.readings) == readings_before
    with ctx.engine.connect() as conn:
        cursor = conn.execute(select(schema.cursor)).one()
    assert cursor.block_hash == w3.to_hex(w3.eth.get_block(cursor.block_number)["hash"])
    # New activity on the new branch is indexed as usual.
    scenario.registers[1] = [scenario.registers[1][0] - 1, scenario.registers[1][1] - 100, scenario.registers[1][2]]
    scenario.registers[2] = [scenario.registers[2][0] - 1, scenario.registers[2][1], scenario.registers[2][2] - 300]
    scenario.read({1: (50, 0)})
    ctx.indexer.sync_to_head()
    assert _count(ctx.engine, schema.readings) == readings_before + 1


def test_refuses_a_database_of_another_deployment(own_chain, db_factory, deployments_file, api_anvil):
    node, _scenario, path = own_chain
    url = db_factory("identity")
    _context(node, path, url).indexer.sync_to_head()
    from frontend_api.indexer.engine import IndexMismatch

    with pytest.raises(IndexMismatch, match="its own database"):
        _context(api_anvil, deployments_file, url)
