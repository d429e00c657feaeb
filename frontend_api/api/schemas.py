"""Response and request bodies (their JSON schemas are in the OpenAPI document).

Token amounts are exact decimal strings in whole tokens ("2018.23" WATT, "617.9" TSL),
prices are TSL per kWh as decimal strings, energy is in whole Wh (integers).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ADDRESS = r"^0x[0-9a-fA-F]{40}$"
Decimal = Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["2018.23"])


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Model):
    detail: str = Field(description="What is wrong, for a person to read")
    error: str = Field(description="A stable code, e.g. invalid_address, insufficient_balance, reverted")
    args: list[str] = Field(default_factory=list, description="Values of a decoded contract error")


class Freshness(Model):
    block: int = Field(description="Block the chain values were read at")
    indexedBlock: int | None = Field(description="Highest block whose events are in the index")
    stale: bool = Field(description="True when a value is known to lag the chain (node unreachable or index behind)")


class WattBalances(Model):
    wallet: str = Decimal
    locked: str = Decimal
    spendable: str = Decimal


class TslBalances(Model):
    wallet: str = Decimal
    depositedFree: str = Decimal
    locked: str = Decimal
    pendingRent: str = Decimal


class EnergyCounters(Model):
    generatedWh: int
    storedWh: int
    consumedFromBatteryWh: int
    consumedFromGridWh: int
    spilledWh: int
    purchasedWh: int
    soldWh: int


class Savings(Model):
    tsl: str = Field(description="What the purchases saved against the utility price (can be negative)",
                     pattern=r"^-?[0-9]+(\.[0-9]+)?$")
    purchasedWh: int
    paidTsl: str = Decimal
    utilityPrice: str = Decimal


class Order(Model):
    orderId: str = Field(pattern=r"^[0-9]+$", description="uint256 order id as a decimal string (ids exceed 2^53)")
    owner: str
    side: Literal["buy", "sell"]
    price: str = Decimal
    amountWh: int
    filledWh: int
    remainingWh: int
    roundId: int | None
    expiry: int | None
    placedAt: int
    txHash: str


class OrderRank(Model):
    orderId: str = Field(pattern=r"^[0-9]+$")
    side: Literal["buy", "sell"]
    rank: int = Field(description="1 = next to fill in its side's merit order (the market's rankOf)")
    aheadWh: int = Field(description="Open volume ahead of it")
    of: int = Field(description="Orders on that side in the round")
    price: str = Decimal
    remainingWh: int


class RoundInfo(Model):
    roundId: int | None
    closesAt: int | None = Field(description="Unix time the open round closes")
    secondsLeft: int | None
    lengthS: int | None


class AccountRank(Model):
    round: RoundInfo
    orders: list[OrderRank]


class AccountScreen(Freshness):
    address: str
    watt: WattBalances
    tsl: TslBalances
    daysOfStorage: float | None = Field(description="Days the free TSL pays rent on the current holding; "
                                                    "null when no WATT is held (nothing to pay for)")
    energy: EnergyCounters
    savings: Savings
    openOrders: list[Order]
    rank: AccountRank | None = Field(description="In auction mode: the account's orders in the open round")


class PriceLevel(Model):
    price: str = Decimal
    amountWh: int
    orders: int


class MarketConfig(Model):
    address: str | None
    name: str | None
    mode: Literal["continuous", "auction", "none"]
    tickSize: str | None
    minSizeWh: int | None
    feeBps: int | None
    capAtUtilityPrice: bool | None


class MarketInfo(Freshness):
    config: MarketConfig
    bestBid: str | None
    bestAsk: str | None
    lastPrice: str | None
    utilityPrice: str = Decimal
    round: RoundInfo | None


class Depth(Freshness):
    bids: list[PriceLevel]
    asks: list[PriceLevel]


class Trade(Model):
    id: int
    buyer: str
    seller: str
    buyOrderId: str | None
    sellOrderId: str | None
    price: str = Decimal
    amountWh: int
    tsl: str = Decimal
    roundId: int | None
    timestamp: int
    blockNumber: int
    txHash: str


class TradePage(Model):
    trades: list[Trade]
    nextCursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null at the end")
    indexedBlock: int | None
    stale: bool


class Reading(Model):
    seq: int
    timestamp: int
    importWh: int
    exportWh: int
    importDeltaWh: int
    exportDeltaWh: int
    blockNumber: int
    txHash: str


class Meter(Model):
    meterId: int
    account: str
    signer: str
    kind: Literal["household", "battery"]
    ratedPowerW: int
    active: bool
    lastSeq: int | None
    registeredAt: int


class MeterDetail(Meter):
    lastReading: Reading | None
    recentRejections: list[dict[str, str | int]]
    indexedBlock: int | None
    stale: bool


class MeterList(Model):
    meters: list[Meter]
    indexedBlock: int | None
    stale: bool


class ReadingPage(Model):
    readings: list[Reading]
    nextCursor: str | None
    indexedBlock: int | None
    stale: bool


class BatteryInfo(Freshness):
    address: str
    capacityWh: int
    stateOfChargeWh: int
    supplyWh: int
    wattSupply: str = Decimal
    chargeEfficiencyBps: int
    reserveToleranceWh: int
    mintingHalted: bool
    reserveStatus: Literal["ok", "deficit"]
    reserveMarginWh: int = Field(description="State of charge minus WATT supply (negative: a deficit)")
    rentPerKwhDay: str = Decimal
    utilityPrice: str = Decimal
    lastStateOfChargeReportAt: int | None


class CommunityStats(Model):
    since: int
    until: int
    generatedWh: int
    consumedWh: int
    consumedFromBatteryWh: int
    selfSufficiency: float | None = Field(description="Share of consumption served from the community battery")
    volumeWh: int
    volumeTsl: str = Decimal
    trades: int
    averagePrice: str | None
    indexedBlock: int | None
    stale: bool


class SeriesPoint(Model):
    start: int
    generatedWh: int
    consumedWh: int
    stateOfChargeWh: int | None
    volumeWh: int
    averagePrice: str | None


class CommunitySeries(Model):
    since: int
    until: int
    bucketS: int
    utilityPrice: str = Decimal
    points: list[SeriesPoint]
    indexedBlock: int | None
    stale: bool


class MeterHealth(Model):
    meterId: int
    account: str
    kind: str
    gateway: str | None = Field(description="Sender of the transaction that landed its last reading")
    lastSeq: int | None
    lastReadingLandedAt: int | None = Field(description="Block time its last accepted reading landed (unix s)")
    lastReadingAgeS: int | None = Field(description="Since it landed, by the later of wall clock and chain time")
    silent: bool = Field(description="No reading landed within readingMaxAgeS (or since registration)")


class GatewayHealth(Model):
    address: str
    lastReadingLandedAt: int
    lastReadingAgeS: int
    readings: int
    transactions: int
    meters: list[int] = Field(description="Meters whose last reading it landed")
    silent: bool


class Health(Model):
    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(description="Why degraded: node_unreachable, chain_halted, index_behind, "
                                           "indexer_error, no_index, silent_meters")
    chainId: int
    chainHead: int | None
    chainHeadTimestamp: int | None
    chainHeadAgeS: float | None = Field(description="Wall clock minus the head's timestamp (negative: chain clock "
                                                    "ahead)")
    blockIntervalS: float = Field(description="The chain's configured block interval (0: not checked)")
    nodeAnsweredAgoS: float | None = Field(description="Since the node last answered the head follower")
    indexedBlock: int | None
    indexerLagBlocks: int | None
    confirmations: int
    indexerError: str | None
    indexerFailures: int
    reorgs: int
    lastReadingAgeS: int | None = Field(description="Since the newest reading landed, by the later of wall clock "
                                                    "and chain time")
    readingMaxAgeS: float
    stale: bool
    silentMeters: list[int]
    meters: list[MeterHealth]
    gateways: list[GatewayHealth]
    contracts: dict[str, str]


class UnsignedTx(Model):
    """A legacy (type 0) transaction for eth_sendTransaction: hex quantities, as EIP-1193 wallets take them."""

    from_: str = Field(alias="from")
    to: str
    data: str
    gas: str = Field(description="Gas limit, as EIP-1193 eth_sendTransaction takes it")
    gasLimit: str = Field(description="The same gas limit under the name ethers' TransactionRequest uses")
    gasPrice: str
    chainId: str
    value: str = "0x0"
    type: Literal["0x0"] = "0x0"
    description: str

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class OrderRequest(Model):
    account: str = Field(pattern=ADDRESS, examples=["0x976EA74026E726554dB657fA54763abd0C3a0aa9"])
    side: Literal["buy", "sell"]
    price: str = Field(description="TSL per kWh", examples=["0.45"], max_length=80)
    amountKwh: str = Field(description="kWh (= WATT), a multiple of 0.001", examples=["1.5"], max_length=80)
    expiry: int = Field(default=0, ge=0, le=2**64 - 1, description="Unix time good-till; 0 = good till cancelled")
    immediateOrCancel: bool = False


class CancelRequest(Model):
    account: str = Field(pattern=ADDRESS)


class AmountRequest(Model):
    account: str = Field(pattern=ADDRESS)
    amount: str = Field(description="TSL", examples=["25"], max_length=80)


class PermitRequest(AmountRequest):
    deadline: int | None = Field(default=None, ge=0, le=2**256 - 1,
                                 description="Unix time; default: an hour from the chain head")


class DepositWithPermitRequest(AmountRequest):
    deadline: int = Field(ge=0, le=2**256 - 1)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte r||s||v from eth_signTypedData_v4")


class PermitTypedData(Model):
    typedData: dict
    deadline: int
    amount: str


class ContractInfo(Model):
    address: str
    abi: list[dict] = Field(description="The contract's ABI (energo/artifacts), as ethers and web3 take it")


class Discovery(Model):
    chainId: int
    rpcUrl: str = Field(description="JSON-RPC URL for wallets and dApps (Janus on Qtum)")
    apiBase: str = Field(description="Path prefix of this API's endpoints")
    openapi: str
    marketName: str | None
    marketMode: Literal["continuous", "auction", "none"]
    contracts: dict[str, ContractInfo]
