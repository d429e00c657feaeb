"""Units and chain facts, defined once (docs/deploy-qtum.md says where each comes from)."""

WATT_DECIMALS = 18
#: 1 WATT = 1 kWh, so 1 Wh is 10**15 WATT base units.
WATT_PER_WH = 10**15
WATT = 10**18
TSL = 10**18
SECONDS_PER_DAY = 86_400

CHAIN_IDS = {"qtum-mainnet": 81, "qtum-testnet": 8889, "qtum-regtest": 8890}
LOCAL_CHAIN_ID = CHAIN_IDS["qtum-regtest"]

#: Qtum's limits (qtum.md): block gas, code size, minimum gas price (40 sat = 400 gwei in Janus units).
QTUM_BLOCK_GAS_LIMIT = 40_000_000
QTUM_CODE_SIZE_LIMIT = 24_576
QTUM_MIN_GAS_PRICE_WEI = 400 * 10**9

SOLC_VERSION = "0.8.28"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
