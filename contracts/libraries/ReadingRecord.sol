// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice One reading as it travels in a batch: the signed fields and the signature.
struct SignedReading {
    uint256 meterId;
    uint256 seq;
    uint256 timestamp;
    uint256 importWh;
    uint256 exportWh;
    uint256 stateOfChargeWh;
    bytes32 r;
    bytes32 s;
    uint8 v;
}

/// @title The packed calldata record of a signed meter reading, and its EIP-712 struct hash
/// @notice Record layout (105 bytes, big-endian, see IMeterLedger):
///   meterId(4) seq(4) timestamp(8) importWh(8) exportWh(8) stateOfChargeWh(8) r(32) s(32) v(1)
library ReadingRecord {
    uint256 internal constant SIZE = 105;

    bytes32 internal constant TYPEHASH = keccak256(
        "MeterReading(uint32 meterId,uint32 seq,uint64 timestamp,uint64 importWh,uint64 exportWh,uint64 stateOfChargeWh)"
    );

    /// @notice Decodes record `index` of `batch` into `out` (reused across a batch so the
    /// loop allocates no memory). The caller has checked `batch.length` is a multiple of SIZE.
    function decodeInto(bytes calldata batch, uint256 index, SignedReading memory out) internal pure {
        uint256 w0;
        uint256 w1;
        bytes32 r;
        bytes32 s;
        uint256 w4;
        assembly ("memory-safe") {
            let p := add(batch.offset, mul(index, 105))
            w0 := calldataload(p) // meterId | seq | timestamp | importWh | exportWh
            w1 := calldataload(add(p, 32)) // stateOfChargeWh in the top 8 bytes
            r := calldataload(add(p, 40))
            s := calldataload(add(p, 72))
            // The last byte of the last record may sit at the end of calldata; calldataload
            // pads with zeros beyond it, and only the top byte is used.
            w4 := calldataload(add(p, 104))
        }
        out.meterId = w0 >> 224;
        out.seq = (w0 >> 192) & 0xffffffff;
        out.timestamp = (w0 >> 128) & 0xffffffffffffffff;
        out.importWh = (w0 >> 64) & 0xffffffffffffffff;
        out.exportWh = w0 & 0xffffffffffffffff;
        out.stateOfChargeWh = w1 >> 192;
        out.r = r;
        out.s = s;
        out.v = uint8(w4 >> 248);
    }

    /// @notice keccak256(abi.encode(TYPEHASH, meterId, seq, timestamp, importWh, exportWh,
    /// stateOfChargeWh)), hashed in scratch memory above the free pointer (not allocated).
    function structHash(SignedReading memory reading) internal pure returns (bytes32 hash) {
        bytes32 typeHash = TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typeHash)
            // The first six words of `reading` are the six signed fields, in type order.
            mcopy(add(m, 0x20), reading, 0xc0)
            hash := keccak256(m, 0xe0)
        }
    }

    /// @notice The same struct hash from the interface's field widths (for the digest view).
    function structHash(
        uint32 meterId,
        uint32 seq,
        uint64 timestamp,
        uint64 importWh,
        uint64 exportWh,
        uint64 stateOfChargeWh
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(TYPEHASH, meterId, seq, timestamp, importWh, exportWh, stateOfChargeWh));
    }
}
