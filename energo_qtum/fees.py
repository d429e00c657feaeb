"""The fee rule: a contract transaction pays gas limit x gas price for each contract
output (refunded in part by the block for unused gas) plus a size fee at a rate.

The default rate is Qtum's minimum relay fee, DEFAULT_MIN_RELAY_TX_FEE = 400,000
satoshi per 1000 bytes (0.004 QTUM/kB, src/policy/policy.h in Qtum Core v27.1).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FEE_RATE_SAT_PER_KB = 400_000
# Qtum's dust relay rate equals the relay fee (DUST_RELAY_TX_FEE = 400,000 sat/kB).
DUST_RELAY_FEE_SAT_PER_KB = 400_000
P2PKH_OUTPUT_SIZE = 34
P2PKH_INPUT_SIZE = 148  # with a 72-byte signature and a compressed public key


def size_fee(size_bytes: int, rate_sat_per_kb: int) -> int:
    """Bitcoin's CFeeRate::GetFee: rounded up, and at least 1 for a positive rate."""
    fee = -(-rate_sat_per_kb * size_bytes // 1000)
    if fee == 0 and size_bytes and rate_sat_per_kb > 0:
        return 1
    return fee


def p2pkh_dust_limit(dust_rate_sat_per_kb: int = DUST_RELAY_FEE_SAT_PER_KB) -> int:
    """A P2PKH output worth less than the cost of spending it is dust and not relayed."""
    return size_fee(P2PKH_OUTPUT_SIZE + P2PKH_INPUT_SIZE, dust_rate_sat_per_kb)


@dataclass(frozen=True)
class FeePolicy:
    rate_sat_per_kb: int = DEFAULT_FEE_RATE_SAT_PER_KB

    def required_fee(self, size_bytes: int, gas_stipend_sat: int) -> int:
        return gas_stipend_sat + size_fee(size_bytes, self.rate_sat_per_kb)
