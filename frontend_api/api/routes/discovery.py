"""Discovery: what a dApp needs to talk to the contracts: chain id, RPC URL, addresses and ABIs."""

from __future__ import annotations

from fastapi import APIRouter

from frontend_api.api import views
from frontend_api.api.deps import ERROR_RESPONSES, Ctx
from frontend_api.api.schemas import Discovery

router = APIRouter(tags=["discovery"], responses=ERROR_RESPONSES)


@router.get("/discovery", response_model=Discovery,
            summary="Chain id, RPC URL, contract addresses and ABIs (everything a dApp needs to start)")
async def discovery(ctx: Ctx) -> dict:
    chain = ctx.chain
    return {
        "chainId": chain.chain_id,
        "rpcUrl": ctx.settings.public_rpc_url or ctx.settings.rpc_url,
        "apiBase": "/api/v1",
        "openapi": "/openapi.json",
        "marketName": chain.market_name if chain.market is not None else None,
        "marketMode": views.market_mode(ctx, 0),
        "contracts": {name: {"address": c.address, "abi": c.abi} for name, c in chain.contracts().items()},
    }
