// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarket} from "./IMarket.sol";

/// @title Signed household intents that anyone may relay, in batches
/// @notice A household signs an EIP-712 intent to place or cancel an order; anyone (the
/// relayer, another household, the household itself) submits intents in batches. The
/// signature, not the sender, authenticates: the intent's `account` must be the signer's
/// address, and it is the order's owner. On Qtum that is the key's keccak (EVM-style)
/// address, not its hash160 Qtum address: two different accounts (docs/market.md).
///
/// EIP-712 domain: name "Energo Market", version "1", chainId, verifyingContract = the
/// market. Typed structs:
///   PlaceOrder(address account,uint8 side,uint256 price,uint256 amountWh,uint256 expiresAt,bool immediateOrCancel,uint256 nonce,uint256 deadline)
///   CancelOrder(address account,uint256 orderId,uint256 nonce,uint256 deadline)
/// Nonces are unordered (a bitmap per account, as Uniswap's Permit2): intents of one
/// account may be relayed in any order, and each applies at most once. An intent is
/// refused after its `deadline` (a timestamp).
///
/// Each intent of a batch ends in exactly one event: `IntentApplied`, or `IntentRejected`
/// with the reason; the rest of the batch still applies. A rejection for what the market
/// refused (`Refused`: balance, tick, minimum, ...) carries the market's custom error
/// and uses up the nonce; `Expired`, `NonceUsed` and `BadSignature` leave it as it was.
interface IMarketIntents is IMarket {
    // ---------------------------------------------------------------- types

    struct PlaceIntent {
        address account;
        Side side;
        uint256 price;
        uint256 amountWh;
        /// 0 = good till cancelled (the call auction takes 0 only)
        uint256 expiresAt;
        /// fill what crosses now and rest nothing (continuous market only)
        bool immediateOrCancel;
        uint256 nonce;
        uint256 deadline;
    }

    struct CancelIntent {
        address account;
        uint256 orderId;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice A signature: 65 bytes as `eth_signTypedData_v4` returns them, split.
    struct Signature {
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    enum IntentRejection {
        None,
        Expired,
        NonceUsed,
        BadSignature,
        Refused
    }

    // ---------------------------------------------------------------- events

    /// @notice A place intent applied: its resting order (0 if nothing rests) and what filled at once.
    event IntentApplied(address indexed account, uint256 indexed nonce, uint256 orderId, uint256 filledWh);
    /// @notice An intent not applied; `detail` is the market's custom error for `Refused`, else empty.
    event IntentRejected(address indexed account, uint256 indexed nonce, IntentRejection reason, bytes detail);
    /// @notice The account gave up the nonces set in `mask` of bitmap word `word`.
    event NoncesInvalidated(address indexed account, uint256 word, uint256 mask);

    // ---------------------------------------------------------------- errors

    /// @notice Only the market itself calls the apply entry points (one per intent).
    error MarketOnlySelf(address caller);
    /// @notice Intent `index` ran out of gas: the whole batch reverts, so no relayer can
    /// use up a household's nonce by sending too little gas.
    error MarketIntentOutOfGas(uint256 index);
    error MarketBatchLengthMismatch(uint256 intents, uint256 signatures);
    /// @notice The call auction takes neither an expiry nor immediate-or-cancel.
    error MarketUnsupportedOrderOption(uint256 expiresAt, bool immediateOrCancel);

    // ---------------------------------------------------------------- intents (anyone)

    /// @notice Applies signed place intents, each as `placeOrder` would for its account.
    /// @return applied how many of the batch were applied
    function placeOrdersFor(PlaceIntent[] calldata intents, Signature[] calldata signatures)
        external
        returns (uint256 applied);

    /// @notice Applies signed cancel intents, each as `cancelOrder` would for its account.
    /// @return applied how many of the batch were applied
    function cancelOrdersFor(CancelIntent[] calldata intents, Signature[] calldata signatures)
        external
        returns (uint256 applied);

    /// @notice Gives up the caller's unused nonces `mask` of bitmap word `word` (nonces
    /// word * 256 + bit), so intents signed with them can never apply.
    function invalidateNonces(uint256 word, uint256 mask) external;

    // ---------------------------------------------------------------- views

    /// @notice Whether `account`'s nonce has been used (applied, refused or invalidated).
    function nonceUsed(address account, uint256 nonce) external view returns (bool);
    /// @notice The EIP-712 digest an account signs for a place intent.
    function placeDigest(PlaceIntent calldata intent) external view returns (bytes32);
    /// @notice The EIP-712 digest an account signs for a cancel intent.
    function cancelDigest(CancelIntent calldata intent) external view returns (bytes32);

    // ---------------------------------------------------------------- self only

    /// @dev One place intent, called by the market itself so that a refusal reverts only
    /// this intent. Anyone else gets MarketOnlySelf.
    function applyPlace(PlaceIntent calldata intent) external returns (uint256 orderId, uint256 filledWh);
    /// @dev One cancel intent (see applyPlace).
    function applyCancel(CancelIntent calldata intent) external;
}
