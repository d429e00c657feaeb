"""Event handlers: one decoded log in, rows out (see schema.py)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update
from web3 import Web3

from energo import artifacts
from energo.facts import METER_KINDS, ZERO_ADDRESS, RejectReason
from frontend_api.core import market as m
from frontend_api.indexer import schema
from frontend_api.indexer.engine import BatchState, DecodedLog, EventSource

ZERO = ZERO_ADDRESS
REJECT_REASONS = [reason.solidity_name for reason in RejectReason]
METER_KIND_NAMES = {code: name for name, code in METER_KINDS.items()}


def _base(item: DecodedLog) -> dict:
    return {"block_number": item.block_number, "log_index": item.log_index, "tx_hash": item.tx_hash,
            "timestamp": item.timestamp}


# ------------------------------------------------------------------ ledger


#: Installation registers not known (registered through another contract after readings
#: arrived): the meter's first reading then counts from its own registers (delta 0).
UNKNOWN_REGISTERS = -1


def _registration_registers(item: DecodedLog, state: BatchState, meter_id: int) -> tuple[int, int]:
    """The installation registers of a meter, from events and calldata, never from a
    historical eth_call (Janus answers every call at the latest block).

    1. The registering transaction's calldata, when it calls the ledger's registerMeter
       directly (what the deploy tooling and the operator commands do).
    2. Otherwise the meter's current state, if it has no accepted reading yet (seq 0): its
       registers are still the installation ones, whatever block the node answers at.
    3. Otherwise unknown."""
    tx = state.transactions.get(item.tx_hash)
    if tx is not None and tx.get("to") and Web3.to_checksum_address(tx["to"]) == item.address:
        try:
            fn, args = _ledger(state, item.address).decode_function_input(tx["input"])
        except ValueError:
            fn, args = None, {}
        if fn is not None and fn.fn_name == "registerMeter" and int(args["meterId"]) == meter_id:
            return int(args["initialImportWh"]), int(args["initialExportWh"])
    if state.w3 is not None:
        meter = _ledger(state, item.address).functions.meter(meter_id).call()
        if int(meter[5]) == 0:
            return int(meter[7]), int(meter[8])
    return UNKNOWN_REGISTERS, UNKNOWN_REGISTERS


def _ledger(state: BatchState, address: str):
    w3 = state.w3 or Web3()
    return w3.eth.contract(address=address, abi=artifacts.abi("MeterLedger"))


def on_meter_registered(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    meter_id = int(item.args["meterId"])
    kind = METER_KIND_NAMES.get(int(item.args["kind"]), "household")
    state.meter_kinds[meter_id] = kind
    initial = _registration_registers(item, state, meter_id)
    state.last_registers[meter_id] = initial
    conn.execute(insert(schema.meters).values(
        **_base(item), meter_id=meter_id, account=item.args["account"], signer=item.args["signer"],
        kind=kind, rated_power_w=item.args["ratedPowerW"], initial_import_wh=initial[0],
        initial_export_wh=initial[1]))


def on_meter_revoked(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.meter_revocations).values(**_base(item), meter_id=item.args["meterId"]))


def _meter_kind(conn: Connection, meter_id: int, state: BatchState) -> str:
    if meter_id not in state.meter_kinds:
        row = conn.execute(select(schema.meters.c.kind).where(schema.meters.c.meter_id == meter_id)
                           .order_by(schema.meters.c.block_number.desc())).first()
        state.meter_kinds[meter_id] = row[0] if row else "household"
    return state.meter_kinds[meter_id]


def on_reading_accepted(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    meter_id = int(item.args["meterId"])
    import_wh, export_wh = int(item.args["importWh"]), int(item.args["exportWh"])
    previous = state.last_registers.get(meter_id)
    if previous is None:
        row = conn.execute(
            select(schema.readings.c.import_wh, schema.readings.c.export_wh)
            .where(schema.readings.c.meter_id == meter_id)
            .order_by(schema.readings.c.seq.desc()).limit(1)).first()
        if row is None:
            row = conn.execute(select(schema.meters.c.initial_import_wh, schema.meters.c.initial_export_wh)
                               .where(schema.meters.c.meter_id == meter_id)).first()
        previous = tuple(row) if row else (0, 0)
    if previous[0] < 0:  # installation registers unknown: the first reading counts from itself
        previous = (import_wh, export_wh)
    state.last_registers[meter_id] = (import_wh, export_wh)
    _record_sender(conn, item, state)
    conn.execute(insert(schema.readings).values(
        **_base(item), meter_id=meter_id, seq=item.args["seq"], reading_timestamp=item.args["timestamp"],
        import_wh=import_wh, export_wh=export_wh,
        import_delta_wh=max(0, import_wh - previous[0]),
        export_delta_wh=max(0, export_wh - previous[1]),
        household=_meter_kind(conn, meter_id, state) == "household"))


def _record_sender(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    """One reading_txs row per transaction with accepted readings: its sender is the gateway."""
    seen = state.reading_txs
    if item.tx_hash in seen:
        seen[item.tx_hash] += 1
        conn.execute(update(schema.reading_txs).where(schema.reading_txs.c.tx_hash == item.tx_hash)
                     .values(readings=seen[item.tx_hash]))
        return
    tx = state.transactions.get(item.tx_hash)
    if tx is None:
        return
    seen[item.tx_hash] = 1
    conn.execute(insert(schema.reading_txs).values(**_base(item), sender=Web3.to_checksum_address(tx["from"]),
                                                   readings=1))


def on_reading_rejected(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    reason = int(item.args["reason"])
    conn.execute(insert(schema.rejections).values(
        **_base(item), meter_id=item.args["meterId"], seq=item.args["seq"],
        reason=REJECT_REASONS[reason] if reason < len(REJECT_REASONS) else str(reason)))


# ------------------------------------------------------------------ battery


def on_transfer(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    source, target, value = item.args["from"], item.args["to"], int(item.args["value"])
    if source == ZERO:
        conn.execute(insert(schema.watt_moves).values(**_base(item), kind="mint", account=target, amount=str(value)))
    elif target == ZERO:
        conn.execute(insert(schema.watt_moves).values(**_base(item), kind="burn", account=source, amount=str(value)))


def on_tsl_deposited(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.tsl_moves).values(**_base(item), kind="deposit", account=item.args["account"],
                                                 amount=str(item.args["amount"])))


def on_tsl_withdrawn(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.tsl_moves).values(**_base(item), kind="withdraw", account=item.args["account"],
                                                 amount=str(item.args["amount"])))


def on_state_of_charge(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.state_of_charge).values(
        **_base(item), state_of_charge_wh=item.args["stateOfChargeWh"], supply_wh=item.args["supplyWh"]))


def on_reserve_deficit(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.reserve_events).values(
        **_base(item), kind="deficit", supply_wh=item.args["supplyWh"],
        state_of_charge_wh=item.args["stateOfChargeWh"], deficit_wh=item.args["deficitWh"]))


def on_reserve_restored(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.reserve_events).values(
        **_base(item), kind="restored", supply_wh=item.args["supplyWh"],
        state_of_charge_wh=item.args["stateOfChargeWh"], deficit_wh=0))


def on_utility_price(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    conn.execute(insert(schema.utility_prices).values(**_base(item), price=str(item.args["newPricePerWatt"])))


# ------------------------------------------------------------------ market


def on_order_placed(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    a = item.args
    order_id = int(a["orderId"])
    book = m.book_of(order_id)
    conn.execute(insert(schema.orders).values(
        **_base(item), market=item.address, order_id=str(order_id), owner=a["owner"], side=m.side_name(a["side"]),
        price=str(a["price"]), amount_wh=a["amountWh"], round_id=book or None, expiry=a["expiresAt"] or None))


def on_order_removed(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    a = item.args
    reason = int(a["reason"])
    conn.execute(insert(schema.order_closures).values(
        **_base(item), market=item.address, order_id=str(a["orderId"]), remaining_wh=a["remainingWh"],
        reason=m.REMOVAL_REASONS[reason] if reason < len(m.REMOVAL_REASONS) else str(reason)))


def on_traded(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    a = item.args
    buy_id, sell_id = int(a["buyOrderId"]), int(a["sellOrderId"])
    round_id = m.book_of(buy_id or sell_id)
    conn.execute(insert(schema.trades).values(
        **_base(item), market=item.address, buyer=a["buyer"], seller=a["seller"],
        buy_order_id=str(buy_id) if buy_id else None, sell_order_id=str(sell_id) if sell_id else None,
        price=str(a["price"]), amount_wh=a["amountWh"], tsl_amount=str(a["amountWh"] * a["price"] // 1000),
        round_id=round_id or None))


def on_round_cleared(conn: Connection, item: DecodedLog, state: BatchState) -> None:
    a = item.args
    conn.execute(insert(schema.rounds).values(
        **_base(item), market=item.address, round_id=a["roundId"], clearing_price=str(a["price"]),
        volume_wh=a["settledWh"]))


# ------------------------------------------------------------------ sources


def battery_source(address: str, abi: list[dict]) -> EventSource:
    return EventSource(address, abi, {
        "Transfer": on_transfer,
        "TslDeposited": on_tsl_deposited,
        "TslWithdrawn": on_tsl_withdrawn,
        "StateOfChargeReported": on_state_of_charge,
        "ReserveDeficit": on_reserve_deficit,
        "ReserveRestored": on_reserve_restored,
        "UtilityPriceChanged": on_utility_price,
    })


def ledger_source(address: str, abi: list[dict]) -> EventSource:
    return EventSource(address, abi, {
        "MeterRegistered": on_meter_registered,
        "MeterRevoked": on_meter_revoked,
        "ReadingAccepted": on_reading_accepted,
        "ReadingRejected": on_reading_rejected,
    }, needs_transactions=True)


def market_source(address: str, abi: list[dict]) -> EventSource:
    handlers = {"OrderPlaced": on_order_placed, "OrderRemoved": on_order_removed, "Traded": on_traded}
    if any(item.get("type") == "event" and item.get("name") == "RoundCleared" for item in abi):
        handlers["RoundCleared"] = on_round_cleared
    return EventSource(address, abi, handlers)
