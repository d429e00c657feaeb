"""The running community: chain, contracts, households, gateways and market, stepped
through simulated time one interval at a time.

Time. The chain's block timestamps are frozen per interval
(``anvil_setBlockTimestampInterval 0``): interval k's blocks all carry T(k), and the
demo moves the chain to T(k+1) with ``evm_setNextBlockTimestamp`` + ``evm_mine`` before
it moves the gateways' clocks. So a reading is never in the chain's future, storage rent
accrues exactly per simulated second, and the same seed gives the same chain.

One interval, in order:
1. the chain moves to T(k);
2. the market is tidied: call-auction rounds that closed are cleared by the battery
   gateway's keeper, or the continuous market's unsold offers are purged; then the
   operator settles its account, bringing the rent index to T(k);
3. the trades are told to the simulated battery (record_trade), so its state of charge
   follows WATT ownership;
4. the household gateways' clocks move to T(k); the demo waits until every household
   meter's reading at T(k) is accepted on-chain;
5. then the battery gateway's clock moves, and its state-of-charge reading is accepted
   (after the households', so supply and charge are compared at the same instant);
6. the agents trade.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from web3.types import RPCEndpoint

from energo.constants import TSL
from energo.facts import MARKET_CONTRACTS
from energo.tx import Sender, contract_at
from energo_community.agents import MAX_SELL_WH, bid_horizon_s, interval_rng
from energo_community.chainlog import ChainLog, DemoError, node_request
from energo_community.contracts import lean
from energo_community.gateways import Gateway, build_gateways
from energo_community.members import BATTERY_METER_ID, Household, build_households
from energo_community.options import SETUP_LEAD_S, CommunityOptions
from energo_community.trading import MarketDesk
from energo_deploy import DeployConfig, Web3Backend, deploy
from energo_deploy.localchain import ROOT, Anvil
from energo_deploy.operations import Operations
from oracle.logs import configure_logging

DEPLOY_CONFIG = ROOT / "deploy" / "local.toml"
#: anvil's dev accounts: 0 deploys and is admin, treasury and registrar (deploy/local.toml
#: names no other role holders); 1 runs the battery (operator); households from 2.
OPERATOR_ACCOUNT = 1
FIRST_HOUSEHOLD_ACCOUNT = 2
FUND_TSL = Decimal(100)
DEPOSIT_TSL = 50 * TSL
GATEWAY_GAS_COIN = 1_000 * 10**18
READINGS_TIMEOUT_S = 30.0


@dataclass
class CommunityHandles:
    """Where the running community is, for whoever keeps it up after the day (``--serve``:
    the HTTP API reads the chain at ``rpc_url`` with the addresses of ``deployments_path``)."""

    rpc_url: str
    chain_id: int
    deployments_path: Path
    contracts: dict[str, str]
    market_mode: str
    households: dict[str, str]  # name -> account
    operator: str
    gateways: list[Gateway]
    anvil: Anvil
    out: Path


@dataclass
class Community:
    options: CommunityOptions
    say: Callable[[str], None] = lambda _line: None
    households: list[Household] = field(default_factory=list)
    anvil: Anvil | None = None
    gateways: list[Gateway] = field(default_factory=list)
    interval: int = -1
    #: The first block of each interval (all of its blocks carry its timestamp).
    interval_blocks: list[int] = field(default_factory=list)

    # ------------------------------------------------------------ start

    def start(self) -> Community:
        opts = self.options
        out = opts.out
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("deployments", "gateways"):
            shutil.rmtree(out / stale, ignore_errors=True)
        self.households = build_households(opts.households, opts.seed)
        # The gateways log (one JSON object per line) to a file: the terminal has the progress bar.
        self._log_file = open(out / "oracle.log", "w")  # noqa: SIM115 (closed in close())
        configure_logging("json", "info", stream=self._log_file)

        self.anvil = Anvil(accounts=FIRST_HOUSEHOLD_ACCOUNT + opts.households, log_path=out / "anvil.log")
        (out / "anvil.log").unlink(missing_ok=True)
        self.anvil.start()
        self.w3 = w3 = self.anvil.web3()
        # The demo makes some ten thousand calls a day. Its chain is local and known: no ENS
        # names to resolve, and its chain id never changes, so web3.py's per-request ENS and
        # chain-id validation middleware are left out and the chain id is asked for once.
        w3.middleware_onion.remove("ens_name_to_address")
        w3.middleware_onion.remove("validation")
        w3.middleware_onion.remove("gas_price_strategy")
        w3.provider.cache_allowed_requests = True
        w3.provider.cacheable_requests = {RPCEndpoint("eth_chainId")}
        self.say(f"local chain: anvil (pid {self.anvil.process.pid}) at {self.anvil.url}, chain id {w3.eth.chain_id}")
        self._rpc("anvil_setBlockTimestampInterval", [0])
        self._move_chain_to(opts.interval_start(0) - SETUP_LEAD_S)

        accounts = w3.eth.accounts
        self.admin = Sender(w3, accounts[0])
        self.operator = accounts[OPERATOR_ACCOUNT]
        #: Household wallets: anvil's unlocked dev accounts (a wallet signs for each).
        self.accounts = accounts[FIRST_HOUSEHOLD_ACCOUNT:FIRST_HOUSEHOLD_ACCOUNT + opts.households]
        self._deploy()
        self._build_gateways()
        self._register_and_fund()

        self._move_chain_to(opts.interval_start(0))
        self.interval_blocks.append(w3.eth.block_number)
        self.chainlog = ChainLog(w3, {"SharedBattery": self.battery, "MeterLedger": self.ledger,
                                  "Market": self.market, "TslToken": self.tsl})
        self._accepted: dict[int, int] = {}
        self._seen = 0
        self._fed_trades = 0
        self._open_interval()
        for gateway in self.gateways:
            gateway.start()
        self.interval = 0
        self._read_meters(0)
        self._trade(0)
        return self

    def _rpc(self, method: str, params: list):
        return node_request(self.w3, method, params)

    def _move_chain_to(self, timestamp: int) -> None:
        self._rpc("evm_setNextBlockTimestamp", [timestamp])
        self._rpc("evm_mine", [])

    def _deploy(self) -> None:
        opts = self.options
        config = DeployConfig.from_toml(DEPLOY_CONFIG)
        # A call-auction round is one settlement long: it closes when the next readings are due.
        market = replace(config.market, mode=opts.mode,
                         round_length_s=opts.settlement_s if opts.mode == "auction" else config.market.round_length_s)
        config = replace(config, market=market, operator=self.operator)
        self.config = config
        self.deployments_path = opts.out / "deployments" / f"{self.w3.eth.chain_id}.json"
        self.backend = Web3Backend(self.admin)
        result = deploy(self.backend, config, self.deployments_path, log=lambda _line: None)
        contracts = result.contracts
        #: Every contract of the deployment (name -> address), and the last block of the
        #: deployment: the chain-cost report (economics.py) classifies by both.
        self.deployed = dict(contracts)
        self.deploy_block = self.w3.eth.block_number
        w3 = self.w3
        self.tsl = contract_at(w3, "TslToken", contracts["TslToken"])
        self.battery = contract_at(w3, "SharedBattery", contracts["SharedBattery"])
        self.ledger = contract_at(w3, "MeterLedger", contracts["MeterLedger"])
        self.market_name = MARKET_CONTRACTS[opts.mode]
        self.market = contract_at(w3, self.market_name, contracts[self.market_name])
        #: The operator's per-interval settleRent, built once.
        self._settle_rent = lean(self.battery).settleRent(self.operator)
        self.desk = MarketDesk(w3, opts.mode, self.market, self.battery, config.utility_price,
                               config.market.tick_size, config.market.min_size_wh, config.market.round_length_s)
        self.say(f"deployed with the engine ({opts.mode} market) -> {self.deployments_path}")

    def _build_gateways(self) -> None:
        opts = self.options
        self.gateways = build_gateways(
            opts.out / "gateways", opts.seed, self.households, self.accounts,
            self.operator, self.anvil.url, self.w3.eth.chain_id, self.ledger.address,
            opts.interval_start(0), self.config.capacity_wh, self.config.charge_efficiency_bps,
            self.market.address if opts.mode == "auction" else None)
        self.battery_meter = self.gateways[-1].meters[BATTERY_METER_ID]

    def _register_and_fund(self) -> None:
        ops = Operations.connect(self.backend, self.deployments_path)
        for gateway in self.gateways:
            self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction({
                "from": self.admin.address, "to": gateway.sender, "value": GATEWAY_GAS_COIN,
                "gasPrice": self.admin.gas_price, "type": 0}))
            for spec in gateway.specs:
                ops.register_meter(spec.meter_id, spec.signer, spec.account, spec.kind, spec.rated_power_w)
        for account in self.accounts:
            ops.fund_household(account, FUND_TSL)
            wallet = self.desk.sender(account)
            wallet.transact(lean(self.tsl).approve(self.battery.address, DEPOSIT_TSL))
            wallet.transact(lean(self.battery).deposit(DEPOSIT_TSL))
        self.say(f"registered {len(self.households)} household meters and the battery's on "
                 f"{len(self.gateways)} gateways; households funded with {FUND_TSL} TSL, {DEPOSIT_TSL // TSL} deposited")

    # ------------------------------------------------------------ one interval

    def step(self) -> int:
        """Runs the next interval; returns its index."""
        k = self.interval + 1
        if k > self.options.intervals:
            raise DemoError("the run is over: no interval left")
        now = self.options.interval_start(k)
        self._move_chain_to(now)
        self.interval_blocks.append(self.w3.eth.block_number)
        self._tidy_market(now)
        self._open_interval()
        self._feed_trades()
        self._read_meters(k)
        self.interval = k
        if k < self.options.intervals:
            self._trade(k)
        return k

    def run(self, on_interval: Callable[[int], None] = lambda _k: None) -> None:
        while self.interval < self.options.intervals:
            on_interval(self.step())

    def _tidy_market(self, now: int) -> None:
        if self.options.mode == "continuous":
            self.desk.purge_unsold(self.operator)
            return
        due = self.desk.rounds_to_clear(now)
        if due:
            self.chainlog.wait(lambda: due <= {e.args["roundId"] for e in self.chainlog.named("RoundCleared")},
                               READINGS_TIMEOUT_S, f"the keeper to clear rounds {sorted(due)}", self._alive)

    def _open_interval(self) -> None:
        """The operator settles its own account, which brings the battery's rent index to
        T(k). Without it the first reading batch of the interval would pay for that, and
        which gateway's batch comes first is a race: the report's gas figures would then
        differ from run to run by a few thousand gas."""
        self.desk.transact(self.operator, self._settle_rent)

    def _feed_trades(self) -> None:
        """Tells the simulated battery about new fills, as the Traded event tells the real one."""
        self.chainlog.poll()
        trades = self.chainlog.named("Traded")
        index = {a: i for i, a in enumerate(self.accounts)}
        with self.battery_meter.lock:
            for event in trades[self._fed_trades:]:
                self.battery_meter.meter.record_trade(index[event.args["seller"]], index[event.args["buyer"]],
                                                      event.args["amountWh"])
        self._fed_trades = len(trades)

    def _absorb(self) -> None:
        events = self.chainlog.events
        for event in events[self._seen:]:
            if event.name == "ReadingAccepted":
                self._accepted[event.args["meterId"]] = event.args["timestamp"]
            elif event.name == "ReadingRejected":
                raise DemoError(f"meter {event.args['meterId']}'s reading {event.args['seq']} was rejected "
                                f"(reason {event.args['reason']}); see {self.options.out / 'oracle.log'}")
        self._seen = len(events)

    def _wait_readings(self, gateways: list[Gateway], timestamp: int, what: str) -> None:
        meters = [spec.meter_id for gateway in gateways for spec in gateway.specs]
        for gateway in gateways:
            gateway.clock.advance_to(timestamp)

        def done() -> bool:
            self._absorb()
            return all(self._accepted.get(m) == timestamp for m in meters)

        self.chainlog.wait(done, READINGS_TIMEOUT_S, what, self._alive)

    def _read_meters(self, k: int) -> None:
        now = self.options.interval_start(k)
        self._wait_readings(self.gateways[:-1], now, f"the household readings of interval {k}")
        self._wait_readings(self.gateways[-1:], now, f"the battery's reading of interval {k}")

    def _trade(self, k: int) -> None:
        opts = self.options
        self.desk.trade(self.households, self.accounts, interval_rng(opts.seed, k), now=opts.interval_start(k),
                        expires_at=opts.interval_start(k + 1),
                        horizon_s=bid_horizon_s(opts.interval_s, opts.settlement_s),
                        max_sell_wh=MAX_SELL_WH * opts.settlement_s // opts.interval_s)
        if opts.mode == "continuous":
            self._feed_trades()

    def _alive(self) -> None:
        for gateway in self.gateways:
            if gateway.daemon is not None and gateway.daemon.wait_stopped(0):
                raise DemoError(f"{gateway.name}'s daemon stopped (exit code {gateway.daemon.exit_code}); "
                                f"see {self.options.out / 'oracle.log'}")

    # ------------------------------------------------------------ handles and stop

    def handles(self) -> CommunityHandles:
        return CommunityHandles(
            rpc_url=self.anvil.url, chain_id=self.w3.eth.chain_id, deployments_path=self.deployments_path,
            contracts={"TslToken": self.tsl.address, "SharedBattery": self.battery.address,
                       "MeterLedger": self.ledger.address, self.market_name: self.market.address},
            market_mode=self.options.mode,
            households={h.name: a for h, a in zip(self.households, self.accounts, strict=True)},
            operator=self.operator, gateways=self.gateways, anvil=self.anvil, out=self.options.out)

    def close(self) -> None:
        """Stops the gateways (they drain briefly), then the chain. Safe to call twice."""
        for gateway in self.gateways:
            gateway.stop()
        for gateway in self.gateways:
            gateway.wait_stopped(timeout=5.0)
        if self.anvil is not None:
            self.anvil.stop()
        log_file = getattr(self, "_log_file", None)
        if log_file is not None:
            # Logging was pointed at this file: point it back at stdout before closing it, so
            # nothing logged later in the same process (an API served after the day, the next
            # test) writes to a closed file.
            configure_logging("json", "info")
            log_file.close()
            self._log_file = None

    def __enter__(self) -> Community:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_community(options: CommunityOptions, say: Callable[[str], None] = lambda _line: None) -> Community:
    """Starts the chain, deploys, registers and funds the community and starts its
    gateways; returns it at T0 with its first readings on-chain. The caller steps it
    (``run``/``step``) and must ``close()`` it (it is a context manager); on any failure
    while starting, whatever was started is stopped."""
    community = Community(options, say)
    try:
        return community.start()
    except BaseException:
        community.close()
        raise

