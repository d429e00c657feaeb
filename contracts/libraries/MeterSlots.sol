// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A meter as the ledger's hot path sees it: both storage words unpacked.
struct MeterRecord {
    address signer;
    address account;
    uint256 ratedPowerW;
    uint256 kind; // IMeterLedger.MeterKind
    bool active;
    uint256 importWh; // < 2^40
    uint256 exportWh; // < 2^40
    uint256 timestamp; // < 2^32
    uint256 seq; // < 2^32
}

/// @title Bit layout of a meter's two storage words
/// @notice A reading needs 512 bits of meter data (two addresses, the registers, the
/// clock, the rating), so a meter takes exactly two slots: one written only by the
/// registrar, one rewritten by every accepted reading. The account address does not fit
/// whole in either, so it is split: its high 48 bits ride in the static word and its low
/// 112 bits in the state word. That saves a third cold slot (2,100 gas) per reading.
///   static = signer (160) | ratedPowerW (32) << 160 | kind (8) << 192 | active (8) << 200
///            | accountHigh48 << 208
///   state  = importWh (40) | exportWh (40) << 40 | timestamp (32) << 80 | seq (32) << 112
///            | accountLow112 << 144
library MeterSlots {
    uint256 internal constant MAX_40 = (1 << 40) - 1;
    uint256 internal constant MAX_32 = (1 << 32) - 1;
    uint256 private constant _MAX_112 = (1 << 112) - 1;
    uint256 private constant _MAX_160 = (1 << 160) - 1;

    function unpack(uint256 staticWord, uint256 stateWord) internal pure returns (MeterRecord memory m) {
        m.signer = address(uint160(staticWord));
        m.ratedPowerW = (staticWord >> 160) & MAX_32;
        m.kind = (staticWord >> 192) & 0xff;
        m.active = (staticWord >> 200) & 0xff != 0;
        m.account = address(uint160(((staticWord >> 208) << 112) | (stateWord >> 144)));
        m.importWh = stateWord & MAX_40;
        m.exportWh = (stateWord >> 40) & MAX_40;
        m.timestamp = (stateWord >> 80) & MAX_32;
        m.seq = (stateWord >> 112) & MAX_32;
    }

    function packStatic(address signer, address account, uint256 ratedPowerW, uint256 kind, bool active)
        internal
        pure
        returns (uint256)
    {
        return uint256(uint160(signer)) | (ratedPowerW << 160) | (kind << 192) | (uint256(active ? 1 : 0) << 200)
            | ((uint256(uint160(account)) >> 112) << 208);
    }

    /// @notice The state word; all values must already be within their widths.
    function packState(address account, uint256 importWh, uint256 exportWh, uint256 timestamp, uint256 seq)
        internal
        pure
        returns (uint256)
    {
        return importWh | (exportWh << 40) | (timestamp << 80) | (seq << 112)
            | ((uint256(uint160(account)) & _MAX_112) << 144);
    }

    /// @notice The static word with the active flag cleared.
    function revoked(uint256 staticWord) internal pure returns (uint256) {
        return staticWord & ~(uint256(0xff) << 200);
    }
}
