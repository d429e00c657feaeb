"""Wallet helpers: unsigned legacy transactions for the browser's wallet to sign and send.

The API never holds a key. Each helper checks the request against the chain first, so
"too little balance" is a 409 that says how much there is, and then estimates gas from
the account: a transaction the contracts would revert is refused with the decoded
custom error instead of being handed to the wallet.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, Request
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from energo.tx import decode_revert
from frontend_api.api.deps import ERROR_RESPONSES, ApiError, Ctx, checked_address
from frontend_api.api.schemas import (
    AmountRequest,
    CancelRequest,
    DepositWithPermitRequest,
    ErrorBody,
    OrderRequest,
    PermitRequest,
    PermitTypedData,
    UnsignedTx,
)
from frontend_api.core import market as market_abi
from frontend_api.core import units


class RateLimiter:
    """A token bucket per (client address, route): `rate` requests a minute, bursts up to it.
    The builders estimate gas on the node for each request; this keeps one client from
    taking the node's time from everyone."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], rate_per_min: int) -> float:
        """0 when allowed, else the seconds until the next request would be."""
        if rate_per_min <= 0:
            return 0.0
        now = time.monotonic()
        per_s = rate_per_min / 60.0
        with self._lock:
            tokens, at = self._buckets.get(key, (float(rate_per_min), now))
            tokens = min(float(rate_per_min), tokens + (now - at) * per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / per_s
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            return 0.0


LIMITER = RateLimiter()


async def rate_limited(request: Request) -> None:
    ctx = request.app.state.ctx
    client = request.client.host if request.client else "unknown"
    wait = LIMITER.take((client, request.url.path.rsplit("/", 1)[-1] if "/orders/" in request.url.path
                         else request.url.path), ctx.settings.builder_rate_per_min)
    if wait:
        raise ApiError(429, "rate_limited", f"too many transaction requests from {client}: "
                       f"{ctx.settings.builder_rate_per_min} a minute; retry in {wait:.1f} s",
                       [ctx.settings.builder_rate_per_min, round(wait, 1)], headers={"Retry-After": str(int(wait) + 1)})


router = APIRouter(prefix="/wallet", tags=["wallet"], dependencies=[Depends(rate_limited)], responses={
    **ERROR_RESPONSES,
    403: {"model": ErrorBody, "description": "Not the account's order"},
    409: {"model": ErrorBody, "description": "The chain would refuse it (balance, state); the message says why"},
    429: {"model": ErrorBody, "description": "Too many transaction requests from this client (see Retry-After)"},
})

#: Friendly text for the contracts' custom errors (values are base units).
FRIENDLY = {
    "BatteryInsufficientFreeTsl": lambda a: f"not enough free TSL deposited: {units.tsl(a[1])} free, "
                                            f"{units.tsl(a[2])} needed",
    "BatteryInsufficientLockedTsl": lambda a: f"not enough locked TSL: {units.tsl(a[1])}, {units.tsl(a[2])} needed",
    "BatteryInsufficientSpendableWatt": lambda a: f"not enough WATT: {units.watt(a[1])} spendable, "
                                                  f"{units.watt(a[2])} needed",
    "ERC20InsufficientBalance": lambda a: f"not enough TSL in the wallet: {units.tsl(a[1])}, "
                                          f"{units.tsl(a[2])} needed",
    "ERC20InsufficientAllowance": lambda a: f"the battery may spend {units.tsl(a[1])} TSL of yours, "
                                            f"{units.tsl(a[2])} needed: approve first or deposit with a permit",
    "ERC2612ExpiredSignature": lambda a: "the permit's deadline has passed: sign a new one",
    "ERC2612InvalidSigner": lambda a: "the permit was not signed by the depositing account",
    "EnforcedPause": lambda a: "the contract is paused by the operator",
    "MarketBelowMinimum": lambda a: f"{a[0]} Wh is below the market's minimum order of {a[1]} Wh",
    "MarketPriceOffTick": lambda a: f"the price {units.tsl(a[0])} is not on the tick grid of {units.tsl(a[1])} TSL",
    "MarketPriceAboveCap": lambda a: f"the price {units.tsl(a[0])} is above the cap {units.tsl(a[1])} TSL/kWh",
    "MarketNotOrderOwner": lambda a: f"order {a[0]} belongs to {a[2]}",
    "MarketUnknownOrder": lambda a: f"order {a[0]} is not open",
    "MarketExpiryInPast": lambda a: f"the expiry {a[0]} is not after the chain's time {a[1]}",
    "AuctionRoundClosed": lambda a: f"round {a[0]} is closed: wait for the next round",
}


def _amount(text: str, what: str = "amount", decimals: int = 18) -> int:
    try:
        return units.parse_units(text, decimals, what)
    except ValueError as exc:
        raise ApiError(400, "invalid_amount", str(exc)) from None


def _build(ctx: Ctx, account: str, fn, description: str) -> dict:
    """Unsigned legacy tx for a contract call from `account`, with estimated gas."""
    chain = ctx.chain
    tx = {"from": account, "to": fn.address, "data": fn._encode_transaction_data(), "value": 0}
    try:
        estimate = chain.w3.eth.estimate_gas(tx)
    except (ContractCustomError, ContractLogicError) as exc:
        failure = decode_revert(exc.data if isinstance(exc.data, str | bytes) else None)
        friendly = FRIENDLY.get(failure.error)
        detail = friendly(failure.args_) if friendly else f"the contract would revert: {failure}"
        # The code is the contract's custom error, its arguments the error's values (base
        # units, checksummed addresses), so a dApp can branch and format them itself.
        raise ApiError(409, failure.error, detail, failure.args_) from None
    except Web3RPCError as exc:
        raise ApiError(409, "reverted", f"the node refused the transaction: {exc}") from None
    gas = int(estimate * ctx.settings.gas_margin) + 10_000
    return {
        "from": account, "to": fn.address, "data": tx["data"], "gas": hex(gas), "gasLimit": hex(gas),
        "gasPrice": hex(ctx.settings.gas_price_wei), "chainId": hex(chain.chain_id), "value": "0x0",
        "type": "0x0", "description": description,
    }


def _need_market(ctx: Ctx):
    if ctx.chain.market is None:
        raise ApiError(404, "no_market", "this API serves no market (none in the deployments file)")
    return ctx.chain.market


@router.post("/orders", response_model=UnsignedTx, response_model_by_alias=True,
             summary="Unsigned tx placing a limit order (sell locks WATT, buy locks deposited TSL)")
def place_order(ctx: Ctx, body: OrderRequest) -> dict:
    account = checked_address(body.account, "account")
    market = _need_market(ctx)
    price = _amount(body.price, "price")
    amount_wh = _amount(body.amountKwh, "amountKwh", 3)
    bat = ctx.chain.battery.functions
    if body.side == "sell":
        spendable = bat.spendableWattOf(account).call()
        if spendable < units.wh_to_watt(amount_wh):
            raise ApiError(409, "BatteryInsufficientSpendableWatt", f"not enough WATT to sell {body.amountKwh} kWh: "
                           f"{units.watt(spendable)} WATT spendable",
                           [account, spendable, units.wh_to_watt(amount_wh)])
    else:
        free = bat.freeTslOf(account).call()
        due, _ = bat.pendingRent(account).call()
        cost = units.cost_tsl(amount_wh, price, round_up=True)
        if free - due < cost:
            raise ApiError(409, "BatteryInsufficientFreeTsl", f"not enough free TSL deposited to buy {body.amountKwh} "
                           f"kWh at {body.price}: {units.tsl(cost)} TSL needed, {units.tsl(max(0, free - due))} free "
                           "(deposit TSL first)", [account, max(0, free - due), cost])
    fn = market_abi.place_call(market, body.side, price, amount_wh, body.expiry, body.immediateOrCancel)
    return _build(ctx, account, fn, f"{body.side} {body.amountKwh} kWh at {body.price} TSL/kWh")


@router.post("/orders/{order_id}/cancel", response_model=UnsignedTx, response_model_by_alias=True,
             summary="Unsigned tx cancelling an open order (its locked WATT or TSL returns)")
def cancel_order(ctx: Ctx, order_id: Annotated[int, Path(ge=1, le=2**256 - 1)], body: CancelRequest) -> dict:
    account = checked_address(body.account, "account")
    market = _need_market(ctx)
    order = ctx.queries.order(order_id)
    if order is None:
        raise ApiError(404, "unknown_order", f"no order {order_id} (index at block {ctx.indexed_block()})",
                       [order_id])
    if order.owner != account:
        raise ApiError(403, "MarketNotOrderOwner", f"order {order_id} belongs to {order.owner}, not {account}",
                       [order_id, account, order.owner])
    if getattr(order, "closed", None) or order.remaining_wh == 0:
        raise ApiError(409, "MarketUnknownOrder", f"order {order_id} is already "
                       f"{getattr(order, 'closed', None) or 'filled'}", [order_id])
    fn = market_abi.cancel_call(market, order_id)
    return _build(ctx, account, fn, f"cancel order {order_id}")


def _wallet_tsl_at_least(ctx: Ctx, account: str, amount: int, text: str) -> None:
    held = ctx.chain.tsl.functions.balanceOf(account).call()
    if held < amount:
        raise ApiError(409, "ERC20InsufficientBalance", f"the wallet holds {units.tsl(held)} TSL, not {text}",
                       [account, held, amount])


@router.post("/approve", response_model=UnsignedTx, response_model_by_alias=True,
             summary="Unsigned tx approving the battery to pull TSL (for /deposit; /permit avoids it)")
def approve(ctx: Ctx, body: AmountRequest) -> dict:
    account = checked_address(body.account, "account")
    amount = _amount(body.amount)
    fn = ctx.chain.tsl.functions.approve(ctx.chain.battery.address, amount)
    return _build(ctx, account, fn, f"allow the battery to take {body.amount} TSL")


@router.post("/deposit", response_model=UnsignedTx, response_model_by_alias=True,
             summary="Unsigned tx depositing TSL (after an approve)")
def deposit(ctx: Ctx, body: AmountRequest) -> dict:
    account = checked_address(body.account, "account")
    amount = _amount(body.amount)
    _wallet_tsl_at_least(ctx, account, amount, body.amount)
    fn = ctx.chain.battery.functions.deposit(amount)
    return _build(ctx, account, fn, f"deposit {body.amount} TSL")


@router.post("/permit", response_model=PermitTypedData,
             summary="EIP-2612 permit typed data for TSL (sign with eth_signTypedData_v4)")
def permit(ctx: Ctx, body: PermitRequest) -> dict:
    account = checked_address(body.account, "account")
    amount = _amount(body.amount)
    _wallet_tsl_at_least(ctx, account, amount, body.amount)
    chain = ctx.chain
    _, head_ts, _ = chain.head()
    deadline = body.deadline if body.deadline is not None else max(head_ts, int(time.time())) + 3600
    _fields, name, version, chain_id, verifying, _salt, _ext = chain.tsl.functions.eip712Domain().call()
    nonce = chain.tsl.functions.nonces(account).call()
    # `types` lists the message's types only: ethers' signTypedData(domain, types, message)
    # takes it as it is (it refuses EIP712Domain there). eth_signTypedData_v4 wants the
    # domain's type too: add `domainType` as types.EIP712Domain (the page does).
    typed = {
        "domainType": [
            {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
        ],
        "types": {
            "Permit": [
                {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": name, "version": version, "chainId": chain_id,
                   "verifyingContract": to_checksum_address(verifying)},
        "message": {"owner": account, "spender": chain.battery.address, "value": str(amount), "nonce": str(nonce),
                    "deadline": str(deadline)},
    }
    return {"typedData": typed, "deadline": deadline, "amount": body.amount}


@router.post("/deposit-with-permit", response_model=UnsignedTx, response_model_by_alias=True,
             summary="Unsigned tx depositing TSL with a signed permit (no separate approve)")
def deposit_with_permit(ctx: Ctx, body: DepositWithPermitRequest) -> dict:
    account = checked_address(body.account, "account")
    amount = _amount(body.amount)
    _wallet_tsl_at_least(ctx, account, amount, body.amount)
    sig = bytes.fromhex(body.signature[2:])
    r, s, v = sig[:32], sig[32:64], sig[64]
    if v < 27:
        v += 27
    if body.deadline > 2**256 - 1:
        raise ApiError(400, "invalid_deadline", "deadline out of range")
    fn = ctx.chain.battery.functions.depositWithPermit(amount, body.deadline, v, r, s)
    return _build(ctx, account, fn, f"deposit {body.amount} TSL (permit)")


@router.post("/withdraw", response_model=UnsignedTx, response_model_by_alias=True,
             summary="Unsigned tx withdrawing free TSL (never what orders or rent need)")
def withdraw(ctx: Ctx, body: AmountRequest) -> dict:
    account = checked_address(body.account, "account")
    amount = _amount(body.amount)
    bat = ctx.chain.battery.functions
    free = bat.freeTslOf(account).call()
    due, _ = bat.pendingRent(account).call()
    if free - due < amount:
        raise ApiError(409, "BatteryInsufficientFreeTsl", f"{units.tsl(max(0, free - due))} TSL is free to withdraw "
                       f"(after {units.tsl(due)} rent due), not {body.amount}", [account, max(0, free - due), amount])
    fn = bat.withdraw(amount)
    return _build(ctx, account, fn, f"withdraw {body.amount} TSL")
