// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IMarketIntents} from "../../interfaces/IMarketIntents.sol";
import {MarketBase} from "./MarketBase.sol";

/// @title Signed place and cancel intents, relayed in batches (see {IMarketIntents})
/// @notice The intent's account acts through `_actor()`: the markets' order code reads it
/// wherever it used to read `msg.sender`. While an intent applies, the account sits in a
/// transient slot (EIP-1153) that is cleared right after, so nothing of it outlives the
/// intent.
abstract contract MarketIntents is MarketBase, IMarketIntents, EIP712 {
    bytes32 private constant _PLACE_TYPEHASH = keccak256(
        "PlaceOrder(address account,uint8 side,uint256 price,uint256 amountWh,uint256 expiresAt,bool immediateOrCancel,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _CANCEL_TYPEHASH =
        keccak256("CancelOrder(address account,uint256 orderId,uint256 nonce,uint256 deadline)");

    /// Per account: bitmap words of used nonces (nonce = word * 256 + bit).
    mapping(address account => mapping(uint256 word => uint256 bits)) private _nonces;
    /// The account of the intent being applied; zero outside one.
    address private transient _intentAccount;

    constructor() EIP712("Energo Market", "1") {}

    // ---------------------------------------------------------------- intents (anyone)

    /// @inheritdoc IMarketIntents
    function placeOrdersFor(PlaceIntent[] calldata intents, Signature[] calldata signatures)
        external
        returns (uint256 applied)
    {
        if (intents.length != signatures.length) {
            revert MarketBatchLengthMismatch(intents.length, signatures.length);
        }
        for (uint256 i; i < intents.length; ++i) {
            PlaceIntent calldata intent = intents[i];
            if (!_admit(intent.account, intent.nonce, intent.deadline, _placeHash(intent), signatures[i])) continue;
            _intentAccount = intent.account;
            try this.applyPlace(intent) returns (uint256 orderId, uint256 filledWh) {
                emit IntentApplied(intent.account, intent.nonce, orderId, filledWh);
                ++applied;
            } catch (bytes memory reason) {
                _refused(i, intent.account, intent.nonce, reason);
            }
            _intentAccount = address(0);
        }
    }

    /// @inheritdoc IMarketIntents
    function cancelOrdersFor(CancelIntent[] calldata intents, Signature[] calldata signatures)
        external
        returns (uint256 applied)
    {
        if (intents.length != signatures.length) {
            revert MarketBatchLengthMismatch(intents.length, signatures.length);
        }
        for (uint256 i; i < intents.length; ++i) {
            CancelIntent calldata intent = intents[i];
            if (!_admit(intent.account, intent.nonce, intent.deadline, _cancelHash(intent), signatures[i])) continue;
            _intentAccount = intent.account;
            try this.applyCancel(intent) {
                emit IntentApplied(intent.account, intent.nonce, intent.orderId, 0);
                ++applied;
            } catch (bytes memory reason) {
                _refused(i, intent.account, intent.nonce, reason);
            }
            _intentAccount = address(0);
        }
    }

    /// @inheritdoc IMarketIntents
    function invalidateNonces(uint256 word, uint256 mask) external {
        _nonces[msg.sender][word] |= mask;
        emit NoncesInvalidated(msg.sender, word, mask);
    }

    /// @inheritdoc IMarketIntents
    function applyPlace(PlaceIntent calldata intent) external returns (uint256 orderId, uint256 filledWh) {
        if (msg.sender != address(this)) revert MarketOnlySelf(msg.sender);
        return _placeIntent(intent);
    }

    /// @inheritdoc IMarketIntents
    function applyCancel(CancelIntent calldata intent) external {
        if (msg.sender != address(this)) revert MarketOnlySelf(msg.sender);
        _cancel(intent.orderId);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IMarketIntents
    function nonceUsed(address account, uint256 nonce) external view returns (bool) {
        return _nonces[account][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @inheritdoc IMarketIntents
    function placeDigest(PlaceIntent calldata intent) external view returns (bytes32) {
        return _hashTypedDataV4(_placeHash(intent));
    }

    /// @inheritdoc IMarketIntents
    function cancelDigest(CancelIntent calldata intent) external view returns (bytes32) {
        return _hashTypedDataV4(_cancelHash(intent));
    }

    // ---------------------------------------------------------------- for the markets

    /// @dev Who acts: the intent's account while one applies, otherwise the caller.
    function _actor() internal view returns (address account) {
        account = _intentAccount;
        if (account == address(0)) account = msg.sender;
    }

    /// @dev Places `intent` for `_actor()` as the market's placeOrder would.
    function _placeIntent(PlaceIntent calldata intent) internal virtual returns (uint256 orderId, uint256 filledWh);

    /// @dev Cancels `orderId` for `_actor()` as the market's cancelOrder would.
    function _cancel(uint256 orderId) internal virtual;

    // ---------------------------------------------------------------- internals

    /// @dev Deadline, nonce and signature, in that order; uses up the nonce when all hold.
    /// A failure is reported here and leaves the nonce unused.
    function _admit(address account, uint256 nonce, uint256 deadline, bytes32 structHash, Signature calldata sig)
        private
        returns (bool)
    {
        IntentRejection reason;
        uint256 word = nonce >> 8;
        uint256 bit = 1 << (nonce & 0xff);
        uint256 bits = _nonces[account][word];
        if (block.timestamp > deadline) {
            reason = IntentRejection.Expired;
        } else if (bits & bit != 0) {
            reason = IntentRejection.NonceUsed;
        } else {
            (address signer, ECDSA.RecoverError error,) =
                ECDSA.tryRecover(_hashTypedDataV4(structHash), sig.v, sig.r, sig.s);
            if (error != ECDSA.RecoverError.NoError || signer != account || account == address(0)) {
                reason = IntentRejection.BadSignature;
            }
        }
        if (reason != IntentRejection.None) {
            emit IntentRejected(account, nonce, reason, "");
            return false;
        }
        _nonces[account][word] = bits | bit;
        return true;
    }

    /// @dev The market refused an authenticated intent. An empty reason is what running out
    /// of gas leaves (the markets revert with custom errors only): then the whole batch
    /// reverts, so a relayer that sends too little gas cannot use up the nonce.
    function _refused(uint256 index, address account, uint256 nonce, bytes memory reason) private {
        if (reason.length == 0) revert MarketIntentOutOfGas(index);
        emit IntentRejected(account, nonce, IntentRejection.Refused, reason);
    }

    function _placeHash(PlaceIntent calldata p) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                _PLACE_TYPEHASH,
                p.account,
                p.side,
                p.price,
                p.amountWh,
                p.expiresAt,
                p.immediateOrCancel,
                p.nonce,
                p.deadline
            )
        );
    }

    function _cancelHash(CancelIntent calldata c) private pure returns (bytes32) {
        return keccak256(abi.encode(_CANCEL_TYPEHASH, c.account, c.orderId, c.nonce, c.deadline));
    }
}
