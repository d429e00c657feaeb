"""Reads of the index for the history endpoints (same SQL on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, or_, select

from frontend_api.indexer import schema as s


@dataclass
class OpenOrder:
    order_id: int
    owner: str
    side: str
    price: int
    amount_wh: int
    filled_wh: int
    round_id: int | None
    expiry: int | None
    block_number: int
    log_index: int
    timestamp: int
    tx_hash: str

    @property
    def remaining_wh(self) -> int:
        return max(0, self.amount_wh - self.filled_wh)


class IndexQueries:
    def __init__(self, engine: Engine, market: str | None) -> None:
        self.engine = engine
        self.market = market

    # ------------------------------------------------------------ orders

    def _filled(self, upto_block: int | None = None):
        """Filled Wh per order id (buy side and sell side) of this market."""
        buy = select(s.trades.c.buy_order_id.label("order_id"), s.trades.c.amount_wh).where(
            s.trades.c.market == self.market, s.trades.c.buy_order_id.is_not(None))
        sell = select(s.trades.c.sell_order_id.label("order_id"), s.trades.c.amount_wh).where(
            s.trades.c.market == self.market, s.trades.c.sell_order_id.is_not(None))
        if upto_block is not None:
            buy = buy.where(s.trades.c.block_number <= upto_block)
            sell = sell.where(s.trades.c.block_number <= upto_block)
        union = buy.union_all(sell).subquery()
        return select(union.c.order_id, func.sum(union.c.amount_wh).label("filled")).group_by(
            union.c.order_id).subquery()

    def open_orders(self, owner: str | None = None, now: int | None = None,
                    upto_block: int | None = None) -> list[OpenOrder]:
        """Open orders; with `upto_block`, as of that indexed block: rows of later blocks the
        indexer is still writing are left out, so two reads for one height agree."""
        if self.market is None:
            return []
        filled = self._filled(upto_block)
        closed = select(s.order_closures.c.order_id).where(s.order_closures.c.market == self.market)
        query = (
            select(s.orders, func.coalesce(filled.c.filled, 0).label("filled"))
            .outerjoin(filled, filled.c.order_id == s.orders.c.order_id)
            .where(s.orders.c.market == self.market)
            .order_by(s.orders.c.block_number, s.orders.c.log_index)
        )
        if upto_block is not None:
            closed = closed.where(s.order_closures.c.block_number <= upto_block)
            query = query.where(s.orders.c.block_number <= upto_block)
        query = query.where(s.orders.c.order_id.not_in(closed))
        if owner is not None:
            query = query.where(s.orders.c.owner == owner)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            order = OpenOrder(int(r.order_id), r.owner, r.side, int(r.price), r.amount_wh, int(r.filled), r.round_id,
                              r.expiry, r.block_number, r.log_index, r.timestamp, r.tx_hash)
            if order.remaining_wh <= 0:
                continue
            if now is not None and order.expiry and order.expiry <= now:
                continue
            out.append(order)
        return out

    def order(self, order_id: int) -> OpenOrder | None:
        if self.market is None:
            return None
        order_id = str(order_id)
        with self.engine.connect() as conn:
            r = conn.execute(select(s.orders).where(s.orders.c.market == self.market,
                                                    s.orders.c.order_id == order_id)).first()
            if r is None:
                return None
            filled = conn.execute(select(func.coalesce(func.sum(s.trades.c.amount_wh), 0)).where(
                s.trades.c.market == self.market,
                or_(s.trades.c.buy_order_id == order_id, s.trades.c.sell_order_id == order_id))).scalar()
            closed = conn.execute(select(s.order_closures.c.reason).where(
                s.order_closures.c.market == self.market, s.order_closures.c.order_id == order_id)).first()
        order = OpenOrder(int(r.order_id), r.owner, r.side, int(r.price), r.amount_wh, int(filled), r.round_id,
                          r.expiry, r.block_number, r.log_index, r.timestamp, r.tx_hash)
        order.closed = closed[0] if closed else None  # type: ignore[attr-defined]
        return order

    # ------------------------------------------------------------ trades

    def trades(self, account: str | None, limit: int, before_id: int | None):
        query = select(s.trades).where(s.trades.c.market == self.market).order_by(s.trades.c.id.desc()).limit(limit)
        if account is not None:
            query = query.where(or_(s.trades.c.buyer == account, s.trades.c.seller == account))
        if before_id is not None:
            query = query.where(s.trades.c.id < before_id)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def last_trade(self):
        with self.engine.connect() as conn:
            return conn.execute(select(s.trades).where(s.trades.c.market == self.market)
                                .order_by(s.trades.c.id.desc()).limit(1)).first()

    def purchases(self, account: str) -> tuple[int, int]:
        """(Wh bought, TSL paid) of an account in this market."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.trades.c.amount_wh, s.trades.c.tsl_amount)
                                .where(s.trades.c.market == self.market, s.trades.c.buyer == account)).all()
        return sum(r[0] for r in rows), sum(int(r[1]) for r in rows)

    # ------------------------------------------------------------ meters

    def meters(self, account: str | None = None):
        revoked = select(s.meter_revocations.c.meter_id)
        last = (select(s.readings.c.meter_id, func.max(s.readings.c.seq).label("seq"))
                .group_by(s.readings.c.meter_id).subquery())
        query = (select(s.meters, s.meters.c.meter_id.in_(revoked).label("revoked"), last.c.seq.label("last_seq"))
                 .outerjoin(last, last.c.meter_id == s.meters.c.meter_id).order_by(s.meters.c.meter_id))
        if account is not None:
            query = query.where(s.meters.c.account == account)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def meter(self, meter_id: int):
        with self.engine.connect() as conn:
            row = conn.execute(select(s.meters).where(s.meters.c.meter_id == meter_id)).first()
            revoked = conn.execute(select(s.meter_revocations).where(
                s.meter_revocations.c.meter_id == meter_id)).first()
        return row, revoked

    def readings(self, meter_id: int, limit: int, before_seq: int | None):
        query = (select(s.readings).where(s.readings.c.meter_id == meter_id)
                 .order_by(s.readings.c.seq.desc()).limit(limit))
        if before_seq is not None:
            query = query.where(s.readings.c.seq < before_seq)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def rejections(self, meter_id: int, limit: int):
        with self.engine.connect() as conn:
            return conn.execute(select(s.rejections).where(s.rejections.c.meter_id == meter_id)
                                .order_by(s.rejections.c.block_number.desc(), s.rejections.c.log_index.desc())
                                .limit(limit)).all()

    def meter_activity(self):
        """Per registered meter: kind, account, when registered, revoked or not, and its last
        accepted reading (seq, the block time it landed, its own timestamp, who sent it)."""
        revoked = select(s.meter_revocations.c.meter_id)
        last = (select(s.readings.c.meter_id, func.max(s.readings.c.seq).label("seq"))
                .group_by(s.readings.c.meter_id).subquery())
        query = (
            select(s.meters.c.meter_id, s.meters.c.account, s.meters.c.kind,
                   s.meters.c.timestamp.label("registered_at"),
                   s.meters.c.meter_id.in_(revoked).label("revoked"), last.c.seq.label("last_seq"),
                   s.readings.c.timestamp.label("landed_at"), s.readings.c.reading_timestamp,
                   s.reading_txs.c.sender)
            .outerjoin(last, last.c.meter_id == s.meters.c.meter_id)
            .outerjoin(s.readings, and_(s.readings.c.meter_id == last.c.meter_id, s.readings.c.seq == last.c.seq))
            .outerjoin(s.reading_txs, s.reading_txs.c.tx_hash == s.readings.c.tx_hash)
            .order_by(s.meters.c.meter_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        seen: set[int] = set()
        out = []
        for row in rows:  # one row per meter (a duplicated transaction row would repeat it)
            if row.meter_id not in seen:
                seen.add(row.meter_id)
                out.append(row)
        return out

    def gateway_activity(self):
        """Per sender of reading transactions (a gateway): its last transaction's block time,
        readings and transactions sent."""
        with self.engine.connect() as conn:
            return conn.execute(select(
                s.reading_txs.c.sender, func.max(s.reading_txs.c.timestamp).label("landed_at"),
                func.sum(s.reading_txs.c.readings).label("readings"), func.count().label("transactions"))
                .group_by(s.reading_txs.c.sender).order_by(s.reading_txs.c.sender)).all()

    def last_reading_timestamp(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(s.readings.c.reading_timestamp))).scalar()

    # ------------------------------------------------------------ community

    def stats(self, since: int, until: int) -> dict:
        with self.engine.connect() as conn:
            flows = conn.execute(select(
                func.coalesce(func.sum(s.readings.c.export_delta_wh), 0),
                func.coalesce(func.sum(s.readings.c.import_delta_wh), 0),
                func.count()).where(
                s.readings.c.household.is_(True), s.readings.c.reading_timestamp > since,
                s.readings.c.reading_timestamp <= until)).first()
            # Burns in transactions that applied readings: consumption served from the battery.
            reading_txs = select(s.readings.c.tx_hash).where(
                s.readings.c.reading_timestamp > since, s.readings.c.reading_timestamp <= until)
            from_battery = sum(int(a) for (a,) in conn.execute(select(s.watt_moves.c.amount).where(
                s.watt_moves.c.kind == "burn", s.watt_moves.c.tx_hash.in_(reading_txs))))
            rows = conn.execute(select(s.trades.c.amount_wh, s.trades.c.tsl_amount).where(
                s.trades.c.market == self.market, s.trades.c.timestamp > since,
                s.trades.c.timestamp <= until)).all()
            trades = (sum(r[0] for r in rows), sum(int(r[1]) for r in rows), len(rows))
        return {
            "generated_wh": int(flows[0]), "consumed_wh": int(flows[1]), "readings": int(flows[2]),
            "from_battery_wh": int(from_battery) // 10**15,
            "volume_wh": int(trades[0]), "volume_tsl": int(trades[1]), "trades": int(trades[2]),
        }

    def series(self, since: int, until: int, bucket_s: int) -> list[dict]:
        """Per time bucket: generation, consumption, last state of charge, average trade price."""
        nb = max(1, (until - since + bucket_s - 1) // bucket_s)
        out = [{"start": since + i * bucket_s, "generated_wh": 0, "consumed_wh": 0, "state_of_charge_wh": None,
                "volume_wh": 0, "volume_tsl": 0} for i in range(nb)]

        def slot(ts: int) -> int | None:
            i = (ts - since - 1) // bucket_s if ts > since else -1
            return i if 0 <= i < nb else None

        with self.engine.connect() as conn:
            for ts, exp, imp in conn.execute(select(
                    s.readings.c.reading_timestamp, s.readings.c.export_delta_wh, s.readings.c.import_delta_wh)
                    .where(s.readings.c.household.is_(True), s.readings.c.reading_timestamp > since,
                           s.readings.c.reading_timestamp <= until)):
                i = slot(ts)
                if i is not None:
                    out[i]["generated_wh"] += exp
                    out[i]["consumed_wh"] += imp
            for ts, soc in conn.execute(select(s.state_of_charge.c.timestamp, s.state_of_charge.c.state_of_charge_wh)
                                        .where(and_(s.state_of_charge.c.timestamp > since,
                                                    s.state_of_charge.c.timestamp <= until))
                                        .order_by(s.state_of_charge.c.block_number, s.state_of_charge.c.log_index)):
                i = slot(ts)
                if i is not None:
                    out[i]["state_of_charge_wh"] = soc
            for ts, wh, tsl in conn.execute(select(s.trades.c.timestamp, s.trades.c.amount_wh, s.trades.c.tsl_amount)
                                            .where(s.trades.c.market == self.market, s.trades.c.timestamp > since,
                                                   s.trades.c.timestamp <= until)):
                i = slot(ts)
                if i is not None:
                    out[i]["volume_wh"] += wh
                    out[i]["volume_tsl"] += int(tsl)
        return out

    def last_state_of_charge(self):
        with self.engine.connect() as conn:
            return conn.execute(select(s.state_of_charge).order_by(
                s.state_of_charge.c.block_number.desc(), s.state_of_charge.c.log_index.desc()).limit(1)).first()
