"""Gas of the markets on a Qtum-like anvil (optimizer on, cancun), whole-transaction gas
from receipts (21k base and refunds included).

Makers and auction participants are distinct accounts, each with WATT and prepaid TSL
rent, so the battery's per-account slots are cold as they would be in a real community
(the same account filling many orders would be cheaper and flatter the numbers).

main() -> dict; writes benchmarks/results/market.json. The continuous market's figures come
from order_metrics, depth_metrics and taker_metrics in turn: tests/benchmarks runs the first
and the last on a chain of CONTINUOUS_USERS funded users (none depends on depth_metrics).
"""

from __future__ import annotations

import statistics
import sys

from web3 import Web3
from web3.logs import DISCARD

from benchmarks.run import print_table, write_results
from energo.constants import QTUM_BLOCK_GAS_LIMIT, TSL, WATT_PER_WH
from energo.facts import MarketSettings, Side
from energo.intents import MarketDomain, PlaceIntent
from energo.tx import Sender
from energo_deploy.localchain import DEV_MNEMONIC, Anvil
from energo_deploy.markets import deploy_market
from energo_deploy.system import Roles, SystemConfig, deploy_system

TICK = TSL // 1000
P = 500 * TICK
AUCTION_ORDERS = 1_000
ACCOUNTS = AUCTION_ORDERS + 20
CLEAR_CHUNK = 250
MIN_ORDER_WH = 100
CONTINUOUS_USERS = 131  # order_metrics and taker_metrics use users[0:131]


def raw(sender: str, call) -> dict:
    """A legacy transaction for an unlocked dev account, with fixed gas (no estimate)."""
    return {"from": sender, "to": call.address, "data": call._encode_transaction_data(),
            "gas": 1_000_000, "gasPrice": 400 * 10**9, "type": 0}


class Bench:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        accounts = w3.eth.accounts
        s = [Sender(w3, a) for a in accounts]
        self.admin, self.treasury, self.operator, self.registrar, self.relayer = s[:5]
        self.users = s[5:]
        config = SystemConfig(capacity_wh=100_000_000, reserve_tolerance_wh=100_000_000)
        self.system = deploy_system(w3, Roles(self.admin, self.treasury, self.operator, self.registrar), config)

    # ------------------------------------------------------------ setup (fire and forget)

    def _fire(self, txs: list[dict]) -> None:
        """Sends (sender, call) pairs without waiting between them, then checks them all."""
        hashes = [self.w3.eth.send_transaction(raw(sender, call)) for sender, call in txs]
        for h in hashes[-1:]:
            self.w3.eth.wait_for_transaction_receipt(h, timeout=300)
        for h in hashes:
            assert self.w3.eth.get_transaction_receipt(h)["status"] == 1

    def fund(self, users: list[Sender], watt_wh: int, tsl: int) -> None:
        """TSL first (treasury -> user -> deposit), then WATT: one signed export reading
        mints to a whale account, which transfers WATT to each user."""
        import importlib.util
        from pathlib import Path

        spec = importlib.util.spec_from_file_location(
            "market_helpers", Path(__file__).resolve().parent.parent / "tests" / "contracts" / "market" / "helpers.py")
        helpers = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = helpers
        spec.loader.exec_module(helpers)
        system = self.system
        tsl_c, battery = system.tsl, system.battery
        self._fire([(self.treasury.address, tsl_c.functions.transfer(u.address, tsl))
                    for u in users])
        self._fire([(u.address, tsl_c.functions.approve(battery.address, tsl))
                    for u in users])
        self._fire([(u.address, battery.functions.deposit(tsl))
                    for u in users])
        whale = self.operator  # rent-exempt, so its WATT stays put while it hands it out
        funder = helpers.Funder(system, self.relayer)
        total = watt_wh * len(users)
        for start in range(0, total, 4_000_000):
            funder.give_watt(whale.address, min(4_000_000, total - start))
        self._fire([(whale.address, battery.functions.transfer(u.address, watt_wh * WATT_PER_WH)) for u in users])

    def gas(self, sender: Sender, call) -> int:
        """Gas of one transaction, a minute after the previous block: like a real user's
        transaction, it pays the battery's lazy rent settlement."""
        self.w3.provider.make_request("evm_increaseTime", [60])
        self.w3.provider.make_request("evm_mine", [])
        receipt = sender.transact(call)
        self.last_receipt = receipt
        return receipt["gasUsed"]

    def battery_gas(self) -> int:
        """Gas spent inside the battery's hooks by the last measured transaction."""
        trace = self.w3.provider.make_request(
            "debug_traceTransaction", [self.last_receipt["transactionHash"].hex(), {"tracer": "callTracer"}])
        battery = self.system.battery.address.lower()

        def inside(call: dict) -> int:
            # Calls into the battery at any depth (a relayed intent reaches it through the
            # market's call to itself); what the battery calls is inside its own gasUsed.
            return sum(int(c["gasUsed"], 16) if c["to"].lower() == battery else inside(c)
                       for c in call.get("calls", []))

        return inside(trace["result"])


def funded_bench(w3: Web3) -> Bench:
    """The system deployed and every user funded with WATT and prepaid TSL."""
    b = Bench(w3)
    b.fund(b.users, watt_wh=20_000, tsl=100 * TSL)
    return b


def continuous_market(b: Bench):
    return deploy_market(b.system, MarketSettings(tick_size=TICK, min_size_wh=MIN_ORDER_WH))


def _place(b: Bench, market, sender, side, tick, amount=1_000, ioc=False):
    return b.gas(sender, market.functions.placeOrder(side, tick * TICK, amount, 0, ioc))


def _order_ids(market, receipt):
    return [e["args"]["orderId"] for e in market.events.OrderPlaced().process_receipt(receipt)]


def order_metrics(b: Bench, market) -> dict[str, float]:
    """Placing at a new and an existing level, cancelling (users 0..11)."""
    f = market.functions
    u = b.users
    out: dict[str, float] = {}

    def place(sender, side, tick, amount=1_000, ioc=False):
        return _place(b, market, sender, side, tick, amount, ioc)

    def order_ids(receipt):
        return _order_ids(market, receipt)

    # a book of 10 bid levels (ticks 400..409); asks rest far above (3000+)
    for i in range(10):
        place(u[i], Side.BUY, 400 + i)
    # first order of an account, at a new level
    out["place_new_level_first_order"] = place(u[10], Side.BUY, 411)
    # the same account's next orders (its lock slot is already non-zero)
    out["place_new_level"] = place(u[10], Side.BUY, 412)
    out["place_new_level_battery"] = b.battery_gas()
    out["place_existing_level"] = place(u[10], Side.BUY, 412)
    out["place_existing_level_battery"] = b.battery_gas()
    out["place_new_level_sell"] = place(u[11], Side.SELL, 3_000) and place(u[11], Side.SELL, 3_001)
    out["place_existing_level_sell"] = place(u[11], Side.SELL, 3_001)
    # cancel: an order whose level keeps other orders, and the last order of a level
    rid = order_ids(u[10].transact(f.placeOrder(Side.BUY, 412 * TICK, 1_000, 0, False)))[0]
    out["cancel"] = b.gas(u[10], f.cancelOrder(rid))
    out["cancel_battery"] = b.battery_gas()
    rid = order_ids(u[10].transact(f.placeOrder(Side.BUY, 413 * TICK, 1_000, 0, False)))[0]
    out["cancel_last_at_level"] = b.gas(u[10], f.cancelOrder(rid))
    return out


def depth_metrics(b: Bench, market) -> dict[str, float]:
    """A new level at depth 10 against depth 1,000 (users 12..17; 990 orders)."""
    f = market.functions
    u = b.users
    out: dict[str, float] = {}

    def place(sender, side, tick, amount=1_000, ioc=False):
        return _place(b, market, sender, side, tick, amount, ioc)

    # depth ratio: a new level by the same account at depth 10 and at depth 1000, each in
    # an already occupied bitmap word, each a minute after the account's last order
    depth10 = place(u[12], Side.BUY, 414) and place(u[12], Side.BUY, 415)
    b._fire([(u[13 + i % 5].address, f.placeOrder(Side.BUY, (1_000 + i) * TICK, MIN_ORDER_WH, 0, False))
             for i in range(990)])
    levels = len(f.depth(Side.BUY, 0, 2_000).call()[0])
    depth1000 = place(u[12], Side.BUY, 1_995)
    out["book_levels_for_ratio"] = levels
    out["place_new_level_depth10"] = depth10
    out["place_new_level_depth1000"] = depth1000
    out["depth_ratio_1000_vs_10"] = round(depth1000 / depth10, 4)
    return out


def taker_metrics(b: Bench, market) -> dict[str, float]:
    """A taker filling 1, 10 and 100 makers, twice (users 19..130)."""
    f = market.functions
    u = b.users
    out: dict[str, float] = {}

    # takers: makers are distinct accounts, resting asks of 200 Wh at one price (tick
    # 2500). First pass: every maker's first sale (the battery writes its sold counter for
    # the first time); second pass: the same makers again (steady state of an active
    # community). Both are reported; the steady state carries the target keys.
    taker = u[19]
    extra = 1_000 * TSL  # enough for both passes
    b._fire([(b.treasury.address, b.system.tsl.functions.transfer(taker.address, extra)),
             (taker.address, b.system.tsl.functions.approve(b.system.battery.address, extra)),
             (taker.address, b.system.battery.functions.deposit(extra))])
    makers = {1: u[20:21], 10: u[21:31], 100: u[31:131]}
    for label in ("_first_trade", ""):
        for n, key in ((1, "take_1_maker"), (10, "take_10_makers"), (100, "take_100_makers")):
            b._fire([(m.address, f.placeOrder(Side.SELL, 2_500 * TICK, 200, 0, False)) for m in makers[n]])
            out[key + label] = b.gas(taker, f.placeOrder(Side.BUY, 2_500 * TICK, 200 * n, 0, True))
            out[key + label + "_battery"] = b.battery_gas()
            assert f.bestAsk().call()[0] == 3_000 * TICK, "the taker must have filled every maker"
    out["per_extra_maker_first_trade"] = round(
        (out["take_100_makers_first_trade"] - out["take_1_maker_first_trade"]) / 99, 1)
    out["per_extra_maker_market_only"] = round(
        ((out["take_100_makers"] - out["take_100_makers_battery"]) - (out["take_1_maker"] - out["take_1_maker_battery"])) / 99, 1)
    out["per_extra_maker"] = round((out["take_100_makers"] - out["take_1_maker"]) / 99, 1)
    return out


def continuous_metrics(b: Bench) -> dict[str, float]:
    market = continuous_market(b)
    out = order_metrics(b, market)
    out.update(depth_metrics(b, market))
    out.update(taker_metrics(b, market))
    out.update(relayed_metrics(b))
    return out


def auction_metrics(b: Bench) -> dict[str, float]:
    market = deploy_market(b.system, MarketSettings(mode="auction", tick_size=TICK, min_size_wh=MIN_ORDER_WH))
    f = market.functions
    length = f.roundLength().call()
    now = b.w3.eth.get_block("latest")["timestamp"]
    round_id = now // length + 1
    b.w3.provider.make_request("evm_setNextBlockTimestamp", [round_id * length + 4])
    b.w3.provider.make_request("evm_mine", [])
    half = AUCTION_ORDERS // 2
    # bids 480..529 and asks 470..519 (ticks), interleaved in time, one order per account
    txs = []
    for i in range(half):
        buy = f.placeOrder(Side.BUY, (480 + i % 50) * TICK, 1_000 + (i * 37) % 500)
        sell = f.placeOrder(Side.SELL, (470 + (i * 7) % 50) * TICK, 1_000 + (i * 53) % 500)
        txs += [(b.users[2 * i].address, buy), (b.users[2 * i + 1].address, sell)]
    place_gas = []
    for tx in txs[:20]:
        h = b.w3.eth.send_transaction(raw(*tx))
        place_gas.append(b.w3.eth.wait_for_transaction_receipt(h)["gasUsed"])
    b._fire(txs[20:])
    b.w3.provider.make_request("evm_setNextBlockTimestamp", [(round_id + 1) * length + 4])
    b.w3.provider.make_request("evm_mine", [])
    chunks, battery = [], 0
    while True:
        chunks.append(b.gas(b.relayer, f.clearRound(round_id, CLEAR_CHUNK)))
        battery += b.battery_gas()
        if f.roundState(round_id).call()[0] == 3:
            break
    state = f.roundState(round_id).call()
    total = sum(chunks)
    return {
        "auction_place_median": statistics.median(place_gas),
        "auction_clear_total_1000": total,
        "auction_clear_per_order_1000": round(total / AUCTION_ORDERS, 1),
        "auction_clear_max_chunk": max(chunks),
        "auction_clear_battery_per_order": round(battery / AUCTION_ORDERS, 1),
        "auction_clear_chunks": len(chunks),
        "auction_clear_chunk_steps": CLEAR_CHUNK,
        "auction_cleared_wh": state[5],
        "auction_fits_one_block": int(max(chunks) <= QTUM_BLOCK_GAS_LIMIT),
    }


RELAYED_BATCH = 20
#: A fixed deadline (2100-01-01): the signed calldata, and so the gas, is the same on every run.
INTENT_DEADLINE = 4_102_444_800
RELAYED_FIRST_USER = CONTINUOUS_USERS  # users[131:] are untouched by the other measurements


def _dev_key(b: Bench, user: Sender) -> bytes:
    """The private key of an anvil dev account (the public test mnemonic)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    index = b.w3.eth.accounts.index(user.address)
    return bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key)


def _signed_places(b: Bench, market, users: list[Sender], side: Side, tick: int, nonce: int,
                   amount: int = 1_000) -> tuple[list, list]:
    domain = MarketDomain(b.w3.eth.chain_id, market.address)
    deadline = INTENT_DEADLINE
    intents, signatures = [], []
    for user in users:
        intent = PlaceIntent(user.address, side, tick * TICK, amount, nonce, deadline)
        intents.append(intent.as_tuple())
        signatures.append(domain.sign(_dev_key(b, user), intent))
    return intents, signatures


def relayed_metrics(b: Bench) -> dict[str, float]:
    """Signed placements relayed in one batch: `RELAYED_BATCH` accounts that already hold
    a lock and used a nonce of the same bitmap word (the steady state of a household),
    each placing at an existing level."""
    market = continuous_market(b)
    users = b.users[RELAYED_FIRST_USER:RELAYED_FIRST_USER + RELAYED_BATCH]
    _place(b, market, users[0], Side.BUY, 450)  # the level
    warm = _signed_places(b, market, users, Side.BUY, 440, nonce=1)
    b.gas(b.relayer, market.functions.placeOrdersFor(*warm))
    batch = _signed_places(b, market, users, Side.BUY, 450, nonce=2)
    gas = b.gas(b.relayer, market.functions.placeOrdersFor(*batch))
    applied = market.events.IntentApplied().process_receipt(b.last_receipt, errors=DISCARD)
    assert len(applied) == RELAYED_BATCH, f"only {len(applied)} of {RELAYED_BATCH} intents applied"
    return {"place_existing_level_relayed": round(gas / RELAYED_BATCH, 1),
            "place_existing_level_relayed_battery": round(b.battery_gas() / RELAYED_BATCH, 1)}


AUCTION_SIGNED = 100


def auction_signed_metrics(b: Bench) -> dict[str, float]:
    """`AUCTION_SIGNED` signed orders of as many accounts in one round, relayed in batches
    of `RELAYED_BATCH`, then the round cleared: everything per order (placing, clearing,
    settling). Measured on a second round, so each account's nonce word and lock exist."""
    market = deploy_market(b.system, MarketSettings(mode="auction", tick_size=TICK, min_size_wh=MIN_ORDER_WH))
    f = market.functions
    length = f.roundLength().call()
    users = b.users[:AUCTION_SIGNED]

    def round_gas(first_round: int, nonce: int) -> int:
        b.w3.provider.make_request("evm_setNextBlockTimestamp", [first_round * length + 4])
        b.w3.provider.make_request("evm_mine", [])
        gas = 0
        for start in range(0, len(users), RELAYED_BATCH):
            chunk = users[start:start + RELAYED_BATCH]
            bids = _signed_places(b, market, chunk[0::2], Side.BUY, 500, nonce)
            asks = _signed_places(b, market, chunk[1::2], Side.SELL, 490, nonce)
            intents, signatures = bids[0] + asks[0], bids[1] + asks[1]
            gas += b.gas(b.relayer, f.placeOrdersFor(intents, signatures))
            applied = market.events.IntentApplied().process_receipt(b.last_receipt, errors=DISCARD)
            assert len(applied) == len(chunk), f"only {len(applied)} of {len(chunk)} signed orders applied"
        b.w3.provider.make_request("evm_setNextBlockTimestamp", [(first_round + 1) * length + 4])
        b.w3.provider.make_request("evm_mine", [])
        while True:
            gas += b.gas(b.relayer, f.clearRound(first_round, CLEAR_CHUNK))
            if f.roundState(first_round).call()[0] == 3:
                return gas

    now = b.w3.eth.get_block("latest")["timestamp"]
    first = now // length + 1
    round_gas(first, nonce=1)
    total = round_gas(first + 2, nonce=2)
    return {"auction_order_total_100": round(total / AUCTION_SIGNED, 1)}


def main() -> dict[str, float]:
    with Anvil(accounts=ACCOUNTS + 5) as node:
        b = funded_bench(node.web3())
        metrics = continuous_metrics(b)
        metrics.update(auction_metrics(b))
        metrics.update(auction_signed_metrics(b))
    write_results("market", metrics)
    print_table("market gas (anvil, whole transactions)", [
        ("place_new_level", metrics["place_new_level"], "<= 90,000"),
        ("  of which in battery.lockTsl", metrics["place_new_level_battery"], ""),
        ("place_new_level_first_order", metrics["place_new_level_first_order"], "first lock of the account"),
        ("place_existing_level", metrics["place_existing_level"], "<= 70,000"),
        ("  of which in battery.lockTsl", metrics["place_existing_level_battery"], ""),
        ("place_existing_level_relayed (signed, batch of 20)", metrics["place_existing_level_relayed"], "<= 50,000"),
        ("place_new_level_sell", metrics["place_new_level_sell"], "WATT lock"),
        ("place_existing_level_sell", metrics["place_existing_level_sell"], "WATT lock"),
        ("cancel", metrics["cancel"], "<= 45,000"),
        ("  of which in battery.unlockTsl", metrics["cancel_battery"], ""),
        ("cancel_last_at_level", metrics["cancel_last_at_level"], "level and bitmap cleared"),
        ("take_1_maker", metrics["take_1_maker"], "<= 110,000"),
        ("  of which in battery.settleFill", metrics["take_1_maker_battery"], ""),
        ("take_10_makers", metrics["take_10_makers"], ""),
        ("take_100_makers", metrics["take_100_makers"], ""),
        ("  of which in battery.settleFill", metrics["take_100_makers_battery"], ""),
        ("per_extra_maker", metrics["per_extra_maker"], "<= 12,000"),
        ("  market contract only", metrics["per_extra_maker_market_only"], ""),
        ("per_extra_maker_first_trade", metrics["per_extra_maker_first_trade"], "makers' first sale"),
        ("take_1_maker_first_trade", metrics["take_1_maker_first_trade"], ""),
        ("depth_ratio_1000_vs_10", metrics["depth_ratio_1000_vs_10"], "<= 1.05"),
        ("auction_place_median", metrics["auction_place_median"], ""),
        ("auction_order_total_100 (signed: place, clear, settle)", metrics["auction_order_total_100"], "<= 25,000"),
        ("auction_clear_per_order_1000", metrics["auction_clear_per_order_1000"], "<= 25,000"),
        ("  of which in battery hooks", metrics["auction_clear_battery_per_order"], "settleFill/unlock"),
        ("auction_clear_total_1000", metrics["auction_clear_total_1000"], "in bounded chunks"),
        ("auction_clear_max_chunk", metrics["auction_clear_max_chunk"], "<= 40,000,000"),
    ])
    return metrics


if __name__ == "__main__":
    main()
