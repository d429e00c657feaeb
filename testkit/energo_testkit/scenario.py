"""A deployed Energo system with known state, for the API's tests, the browser tests and
the benchmark: meters registered and read, WATT minted, TSL deposited, orders and a trade.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from energo.constants import TSL
from energo.facts import MarketSettings, Side
from energo.readings import MeterReading, ReadingDomain, ReadingSigner, pack_batch
from energo.tx import Sender
from energo_deploy.markets import deploy_market
from energo_deploy.system import EnergoSystem, Roles, SystemConfig, deploy_system
from energo_testkit.clock import time_travel

BUY, SELL = Side.BUY, Side.SELL
TICK = TSL // 1000  # 0.001 TSL per kWh
MIN_ORDER_WH = 100
BATTERY_METER = 100


def scenario_market(system: EnergoSystem, mode: str = "continuous") -> Contract:
    """The scenario's market, recorded under its contract name as the deploy engine does."""
    settings = MarketSettings(mode=mode, tick_size=TICK, min_size_wh=MIN_ORDER_WH,
                              fee_recipient=system.roles.admin.address)
    return deploy_market(system, settings, name=settings.contract)


@dataclass
class Scenario:
    w3: Web3
    system: EnergoSystem
    market: Contract
    roles: Roles
    households: list[Sender]
    relayer: Sender
    signers: dict[int, ReadingSigner] = field(default_factory=dict)
    registers: dict[int, list[int]] = field(default_factory=dict)  # meter -> [seq, import, export]

    @property
    def household(self) -> Sender:
        return self.households[0]

    def write_deployments(self, path: Path) -> Path:
        contracts = self.system.addresses()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"chainId": self.w3.eth.chain_id, "contracts": contracts}, indent=2))
        return path

    # ------------------------------------------------------------ meters

    def register_meter(self, meter_id: int, account: str, battery: bool = False, rated_w: int = 20_000) -> None:
        key = keccak(text=f"energo test meter {meter_id}")
        domain = ReadingDomain(self.w3.eth.chain_id, self.system.ledger.address)
        signer = ReadingSigner(key, domain)
        self.signers[meter_id] = signer
        self.registers[meter_id] = [0, 0, 0]
        self.roles.registrar.transact(self.system.ledger.functions.registerMeter(
            meter_id, signer.address, account, 1 if battery else 0, rated_w, 0, 0))

    def read(self, flows: dict[int, tuple[int, int]], soc_wh: int | None = None, advance_s: int = 3600) -> dict:
        """Advances the clock, then submits one reading per meter: {meter: (import Δ, export Δ)}."""
        now = time_travel(self.w3, advance_s)
        signed = []
        for meter_id, (imp, exp) in flows.items():
            reg = self.registers[meter_id]
            reg[0] += 1
            reg[1] += imp
            reg[2] += exp
            signed.append(self.signers[meter_id].sign(MeterReading(meter_id, reg[0], now, reg[1], reg[2], 0)))
        if soc_wh is not None and BATTERY_METER in self.signers:
            reg = self.registers[BATTERY_METER]
            reg[0] += 1
            signed.append(self.signers[BATTERY_METER].sign(MeterReading(BATTERY_METER, reg[0], now, 0, 0, soc_wh)))
        return self.relayer.transact(self.system.ledger.functions.submitReadings(pack_batch(signed)))

    def report_state_of_charge(self) -> None:
        """The battery meter reports a charge equal to the WATT supply (plus a margin)."""
        now = self.w3.eth.get_block("latest")["timestamp"]
        reg = self.registers[BATTERY_METER]
        reg[0] += 1
        soc = self.system.battery.functions.supplyWh().call() + 150
        signed = self.signers[BATTERY_METER].sign(MeterReading(BATTERY_METER, reg[0], now, 0, 0, soc))
        self.relayer.transact(self.system.ledger.functions.submitReadings(pack_batch([signed])))

    # ------------------------------------------------------------ tokens and orders

    def fund(self, account: Sender, tsl_amount: int, deposit: int = 0) -> None:
        self.roles.treasury.transact(self.system.tsl.functions.transfer(account.address, tsl_amount))
        if deposit:
            account.transact(self.system.tsl.functions.approve(self.system.battery.address, deposit))
            account.transact(self.system.battery.functions.deposit(deposit))

    def place(self, account: Sender, side: int, price: int, amount_wh: int) -> int:
        if "CallAuctionMarket" in self.system.markets:
            receipt = account.transact(self.market.functions.placeOrder(side, price, amount_wh))
        else:
            receipt = account.transact(self.market.functions.placeOrder(side, price, amount_wh, 0, False))
        events = self.market.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
        return events[0]["args"]["orderId"] if events else 0


#: A sunny day's PV surplus (Wh per hour) of a household, from 00:00.
SOLAR = [0, 0, 0, 0, 0, 0, 100, 500, 1100, 1800, 2400, 2800, 3000, 2900, 2500, 1900, 1200, 500, 100, 0, 0, 0]
EVENING_LOAD = [300, 200, 200, 200, 200, 300, 500, 400, 200, 100, 100, 100, 100, 100, 100, 200, 300, 600, 900, 1000,
                800, 500]


def build_scenario(w3: Web3, accounts: list[str], mode: str = "continuous", day: bool = True) -> Scenario:
    """accounts: anvil's dev accounts, at least 10 (roles 0-4, households from 5).

    With `day`, 22 hourly readings of the neighbours (B exports a solar curve, C and D
    consume, D has a small array) and a few trades come first, so the community's day
    has a shape; then household A (the page's user) gets its known numbers: generated
    3 kWh, stored 2.85 kWh, 0.5 kWh from the battery, 0.5 kWh bought from B at 0.40.
    """
    senders = [Sender(w3, a) for a in accounts]
    roles = Roles(admin=senders[0], treasury=senders[1], operator=senders[2], registrar=senders[3])
    system = deploy_system(w3, roles, SystemConfig())
    market = scenario_market(system, mode)
    households = senders[5:]
    sc = Scenario(w3, system, market, roles, households, relayer=senders[4])
    a, b, c, d = households[0], households[1], households[2], households[3]
    for meter_id, who in ((1, a), (2, b), (3, c), (4, d)):
        sc.register_meter(meter_id, who.address)
    sc.register_meter(BATTERY_METER, roles.operator.address, battery=True, rated_w=200_000)
    sc.fund(b, 1_000 * TSL, deposit=50 * TSL)
    sc.fund(c, 1_000 * TSL, deposit=20 * TSL)
    sc.fund(d, 1_000 * TSL, deposit=10 * TSL)
    if day:
        trades_at = {9: 420, 12: 380, 14: 410, 17: 460, 19: 520}
        for hour, (pv, load) in enumerate(zip(SOLAR, EVENING_LOAD, strict=True)):
            sc.read({2: (load // 2, pv), 3: (load, 0), 4: (load // 2 + 100, pv // 4)})
            sc.report_state_of_charge()
            if hour in trades_at:
                sc.place(b, SELL, trades_at[hour] * TICK, 300)
                sc.place(c, BUY, trades_at[hour] * TICK, 300)
    # A and B export PV surplus into the battery, C consumes from the grid.
    sc.read({1: (0, 3_000), 2: (0, 5_000), 3: (1_200, 0)})
    sc.report_state_of_charge()
    sc.read({1: (500, 0), 2: (0, 1_000), 3: (800, 200)})
    sc.report_state_of_charge()
    sc.fund(a, 1_000 * TSL, deposit=100 * TSL)
    # B sells; A buys half of it at B's price; more orders rest on both sides.
    sc.place(b, SELL, 400 * TICK, 1_000)
    sc.place(a, BUY, 400 * TICK, 500)
    sc.place(b, SELL, 500 * TICK, 1_000)
    sc.place(c, BUY, 300 * TICK, 400)
    sc.place(a, BUY, 350 * TICK, 200)
    if day:  # D's WATT comes from the day's readings
        sc.place(d, SELL, 550 * TICK, 600)
        sc.place(d, BUY, 320 * TICK, 300)
    return sc


def sync(client) -> None:
    """Brings the index to the chain head and drops cached chain reads (after a test's tx)."""
    ctx = client.app.state.ctx
    ctx.chain.invalidate()
    ctx.indexer.sync_to_head()
    ctx._indexed = (0.0, None)


def send(w3: Web3, tx: dict) -> dict:
    """Sends an unsigned tx from the API as a browser wallet would (anvil's dev account signs)."""
    params = {k: tx[k] for k in ("from", "to", "data", "gas", "gasPrice", "value")}
    params["type"] = "0x0"
    tx_hash = w3.provider.make_request("eth_sendTransaction", [params])["result"]
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
