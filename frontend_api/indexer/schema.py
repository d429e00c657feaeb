"""The index's tables (SQLAlchemy Core; the same definitions on SQLite and PostgreSQL).

Every row that comes from a log carries its ``block_number``, so a reorg is undone by
deleting rows above the fork point; nothing derived is updated in place. Amounts of
tokens are stored as decimal strings of base units in ``Numeric(78, 0)`` columns (a
uint256 fits), energy in whole Wh as BigInteger.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

#: uint256 values as decimal strings: neither SQLite nor BigInteger holds 256 bits exactly.
U256 = String(80)

#: One row: the highest block whose logs are all in the index.
cursor = Table(
    "indexer_cursor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("contracts", String(1000), nullable=False),  # genesis hash and contracts: whose index this is
)

#: Hashes of indexed blocks (batch ends and blocks with logs), to detect reorgs.
blocks = Table(
    "indexed_blocks",
    metadata,
    Column("block_number", BigInteger, primary_key=True),
    Column("block_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)


def _log_columns() -> list[Column]:
    return [
        Column("block_number", BigInteger, nullable=False, index=True),
        Column("log_index", Integer, nullable=False),
        Column("tx_hash", String(66), nullable=False),
        Column("timestamp", BigInteger, nullable=False),
    ]


meters = Table(
    "meters",
    metadata,
    *_log_columns(),
    Column("meter_id", BigInteger, nullable=False, index=True),
    Column("account", String(42), nullable=False, index=True),
    Column("signer", String(42), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("rated_power_w", BigInteger, nullable=False),
    #: Registers at installation (energy before it joined counts for nothing).
    Column("initial_import_wh", BigInteger, nullable=False),
    Column("initial_export_wh", BigInteger, nullable=False),
)

meter_revocations = Table(
    "meter_revocations",
    metadata,
    *_log_columns(),
    Column("meter_id", BigInteger, nullable=False, index=True),
)

readings = Table(
    "readings",
    metadata,
    *_log_columns(),
    Column("meter_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("reading_timestamp", BigInteger, nullable=False),
    Column("import_wh", BigInteger, nullable=False),
    Column("export_wh", BigInteger, nullable=False),
    #: Deltas since the meter's previous accepted reading (0 for the first).
    Column("import_delta_wh", BigInteger, nullable=False),
    Column("export_delta_wh", BigInteger, nullable=False),
    Column("household", Boolean, nullable=False),
    Index("ix_readings_meter_seq", "meter_id", "seq"),
    Index("ix_readings_ts", "reading_timestamp"),
)

#: One row per transaction that had readings accepted: who sent it (the gateway).
reading_txs = Table(
    "reading_txs",
    metadata,
    *_log_columns(),
    Column("sender", String(42), nullable=False, index=True),
    Column("readings", Integer, nullable=False),
    Index("ix_reading_txs_hash", "tx_hash"),
)

rejections = Table(
    "reading_rejections",
    metadata,
    *_log_columns(),
    Column("meter_id", BigInteger, nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
)

#: WATT mints (charged into the battery) and burns (consumed from it).
watt_moves = Table(
    "watt_moves",
    metadata,
    *_log_columns(),
    Column("kind", String(8), nullable=False),  # mint | burn
    Column("account", String(42), nullable=False, index=True),
    Column("amount", U256, nullable=False),
)

#: TSL deposits and withdrawals at the battery's escrow.
tsl_moves = Table(
    "tsl_moves",
    metadata,
    *_log_columns(),
    Column("kind", String(10), nullable=False),  # deposit | withdraw
    Column("account", String(42), nullable=False, index=True),
    Column("amount", U256, nullable=False),
)

state_of_charge = Table(
    "state_of_charge",
    metadata,
    *_log_columns(),
    Column("state_of_charge_wh", BigInteger, nullable=False),
    Column("supply_wh", BigInteger, nullable=False),
)

reserve_events = Table(
    "reserve_events",
    metadata,
    *_log_columns(),
    Column("kind", String(10), nullable=False),  # deficit | restored
    Column("supply_wh", BigInteger, nullable=False),
    Column("state_of_charge_wh", BigInteger, nullable=False),
    Column("deficit_wh", BigInteger, nullable=False),
)

utility_prices = Table(
    "utility_prices",
    metadata,
    *_log_columns(),
    Column("price", U256, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    *_log_columns(),
    Column("market", String(42), nullable=False),
    Column("order_id", U256, nullable=False),
    Column("owner", String(42), nullable=False, index=True),
    Column("side", String(4), nullable=False),  # buy | sell
    Column("price", U256, nullable=False),  # TSL base units per kWh
    Column("amount_wh", BigInteger, nullable=False),
    Column("round_id", BigInteger, nullable=True),
    Column("expiry", BigInteger, nullable=True),
    Index("ix_orders_market_id", "market", "order_id"),
)

#: Cancellations, expiries and refunds: the order is closed from then on.
order_closures = Table(
    "order_closures",
    metadata,
    *_log_columns(),
    Column("market", String(42), nullable=False),
    Column("order_id", U256, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("remaining_wh", BigInteger, nullable=False),
    Index("ix_closures_market_id", "market", "order_id"),
)

trades = Table(
    "trades",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    *_log_columns(),
    Column("market", String(42), nullable=False),
    Column("buyer", String(42), nullable=False, index=True),
    Column("seller", String(42), nullable=False, index=True),
    Column("buy_order_id", U256, nullable=True),
    Column("sell_order_id", U256, nullable=True),
    Column("price", U256, nullable=False),
    Column("amount_wh", BigInteger, nullable=False),
    Column("tsl_amount", U256, nullable=False),
    Column("round_id", BigInteger, nullable=True),
    Index("ix_trades_order", "block_number", "log_index"),
)

rounds = Table(
    "rounds",
    metadata,
    *_log_columns(),
    Column("market", String(42), nullable=False),
    Column("round_id", BigInteger, nullable=False),
    Column("clearing_price", U256, nullable=False),
    Column("volume_wh", BigInteger, nullable=False),
)

#: Tables holding rows from logs (rolled back on a reorg).
LOG_TABLES = [
    meters, meter_revocations, readings, reading_txs, rejections, watt_moves, tsl_moves, state_of_charge,
    reserve_events, utility_prices, orders, order_closures, trades, rounds,
]
