"""Differential test: random place / cancel / purge / time-jump sequences against the
ContinuousMarket and the Python ReferenceBook, compared after every step (fills, prices,
removals and their order), with the book, escrow and conservation invariants."""

from __future__ import annotations

from energo_testkit.fixtures import set_next_timestamp
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.logs import DISCARD

from energo.constants import WATT_PER_WH
from energo.facts import cost_tsl
from energo.tx import TxFailed

from .conftest import CONFIG
from .reference_book import BUY, SELL, Fill, ReferenceBook, Removal

TICK = CONFIG.tick_size
GAS = 3_000_000  # explicit: the next block's timestamp decides expiry, not the estimate's


def test_continuous_market_matches_reference(env, w3, attacker):
    market = env.continuous
    battery = env.system.battery.functions
    traders = env.traders[:4]
    operator = env.system.roles.operator.address

    def chain_log(receipt, ids):
        """Traded / OrderRemoved events in log order, in the reference's terms."""
        entries = []
        for e in market.events.Traded().process_receipt(receipt, errors=DISCARD):
            a = e["args"]
            entry = Fill(a["seller"], a["buyer"], ids.get(a["sellOrderId"]), ids.get(a["buyOrderId"]),
                         a["amountWh"], a["price"] // TICK)
            entries.append((e["logIndex"], entry))
        for e in market.events.OrderRemoved().process_receipt(receipt, errors=DISCARD):
            a = e["args"]
            entries.append((e["logIndex"], Removal(ids[a["orderId"]], a["owner"], a["reason"], a["remainingWh"])))
        return [entry for _, entry in sorted(entries, key=lambda x: x[0])]

    class Machine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
            self.ref = ReferenceBook(min_wh=CONFIG.min_size_wh)
            self.chain_id_of: dict[int, int] = {}  # ref -> chain order id
            self.ref_of: dict[int, int] = {}  # chain order id -> ref
            self.clock = w3.eth.get_block("latest")["timestamp"]
            self.watt_total = self._watt_total()
            self.tsl_total = self._tsl_total()

        def teardown(self):
            w3.provider.make_request("evm_revert", [self.snapshot])

        def _watt_total(self):
            return sum(battery.balanceOf(a).call() for a in [t.address for t in traders] + [operator])

        def _tsl_total(self):
            return sum(battery.freeTslOf(t.address).call() + battery.lockedTslOf(t.address).call()
                       for t in traders) + battery.rentCollected().call()

        def _send(self, sender, call, gas=GAS):
            self.clock += 1
            set_next_timestamp(w3, self.clock)
            return sender.transact(call, gas=gas)

        # ------------------------------------------------------------ rules

        @rule(who=st.integers(0, 3), side=st.sampled_from([BUY, SELL]), tick=st.integers(497, 503),
              amount=st.integers(100, 1_500), ttl=st.sampled_from([0, 0, 5, 60, 600]), ioc=st.booleans())
        def place(self, who, side, tick, amount, ttl, ioc):
            trader = traders[who]
            now = self.clock + 1
            expires_at = now + ttl if ttl else 0
            note(f"t={now} {trader.address[:8]} {'BUY' if side == BUY else 'SELL'} {amount}@{tick} "
                 f"exp={expires_at} ioc={ioc}")
            receipt = self._send(trader, market.functions.placeOrder(side, tick * TICK, amount, expires_at, ioc))
            outcome = self.ref.place(trader.address, side, tick, amount, expires_at, ioc, now)
            placed = market.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
            if outcome.rested is not None:
                order_id = placed[0]["args"]["orderId"]
                self.chain_id_of[outcome.rested.ref] = order_id
                self.ref_of[order_id] = outcome.rested.ref
            else:
                assert not placed
            assert chain_log(receipt, self.ref_of) == outcome.log

        @precondition(lambda self: self.ref.orders)
        @rule(data=st.data())
        def cancel(self, data):
            order = data.draw(st.sampled_from(self.ref.orders))
            note(f"cancel ref {order.ref}")
            owner = next(t for t in traders if t.address == order.owner)
            receipt = self._send(owner, market.functions.cancelOrder(self.chain_id_of[order.ref]))
            assert chain_log(receipt, self.ref_of) == [self.ref.cancel(order.ref)]

        @precondition(lambda self: self.ref.orders)
        @rule(data=st.data())
        def cancel_someone_elses(self, data):
            order = data.draw(st.sampled_from(self.ref.orders))
            order_id = self.chain_id_of[order.ref]
            try:
                attacker.transact(market.functions.cancelOrder(order_id))
                raise AssertionError("cancelling another user's order succeeded")
            except TxFailed as exc:
                assert exc.error == "MarketNotOrderOwner"
                assert exc.args_ == (order_id, attacker.address, order.owner)

        @precondition(lambda self: self.ref.orders)
        @rule()
        def purge(self):
            refs = [o.ref for o in self.ref.orders]
            note(f"purge at t={self.clock + 1}")
            receipt = self._send(attacker, market.functions.purgeExpired([self.chain_id_of[r] for r in refs]))
            assert chain_log(receipt, self.ref_of) == self.ref.purge(refs, self.clock)

        @rule(seconds=st.sampled_from([1, 10, 100, 1_000]))
        def time_jump(self, seconds):
            note(f"time +{seconds}")
            self.clock += seconds

        # ------------------------------------------------------------ invariants

        @invariant()
        def book_matches_reference(self):
            # The views show what can fill at the latest block's time: expired orders left out.
            now = w3.eth.get_block("latest")["timestamp"]
            for side in (BUY, SELL):
                prices, amounts, counts, _ = market.functions.depth(side, 0, 64).call()
                assert [(p // TICK, a, c) for p, a, c in zip(prices, amounts, counts, strict=True)] == \
                    self.ref.levels(side, now)
            assert market.functions.bestBid().call()[0] == self.ref.best(BUY, now) * TICK
            assert market.functions.bestAsk().call()[0] == self.ref.best(SELL, now) * TICK
            for order in self.ref.orders:
                info = market.functions.order(self.chain_id_of[order.ref]).call()
                assert (info[0], info[1], info[3], info[4]) == (order.owner, order.side, order.amount, order.expires_at)

        @invariant()
        def never_crossed(self):
            bid, ask = self.ref.best(BUY), self.ref.best(SELL)
            assert bid == 0 or ask == 0 or bid < ask

        @invariant()
        def locks_equal_open_orders(self):
            for t in traders:
                sells = sum(o.amount for o in self.ref.orders if o.owner == t.address and o.side == SELL)
                buys = sum(cost_tsl(o.amount, o.tick * TICK) for o in self.ref.orders
                           if o.owner == t.address and o.side == BUY)
                assert battery.lockedWattOf(t.address).call() == sells * WATT_PER_WH
                assert battery.lockedTslOf(t.address).call() == buys

        @invariant()
        def watt_and_tsl_conserved(self):
            assert self._watt_total() == self.watt_total
            assert self._tsl_total() == self.tsl_total

    run_state_machine_as_test(
        Machine,
        settings=settings(max_examples=6, stateful_step_count=25, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
