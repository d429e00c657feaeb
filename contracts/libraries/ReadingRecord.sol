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
/// An unsigned record (40 bytes: the same fields without the signature) travels in a
/// gateway-signed batch, `submitBatch`, whose one signature covers every record.
library ReadingRecord {
    uint256 internal constant SIZE = 105;
    uint256 internal constant UNSIGNED_SIZE = 40;

    bytes32 internal constant TYPEHASH = keccak256(
        "MeterReading(uint32 meterId,uint32 seq,uint64 timestamp,uint64 importWh,uint64 exportWh,uint64 stateOfChargeWh)"
    );

    /// @notice EIP-712 type of a gateway-signed batch: `readings` is the concatenation of
    /// 40-byte unsigned records, hashed as EIP-712 hashes `bytes` (keccak256 of the bytes).
    bytes32 internal constant BATCH_TYPEHASH = keccak256("ReadingBatch(bytes readings)");

    /// @notice The struct hash of a gateway-signed batch.
    function batchHash(bytes calldata readings) internal pure returns (bytes32) {
        return keccak256(abi.encode(BATCH_TYPEHASH, keccak256(readings)));
    }

    /// @notice Decodes unsigned record `index` of `readings` into `out`'s six signed
    /// fields (the signature fields are left as they are). The caller has checked
    /// `readings.length` is a multiple of UNSIGNED_SIZE.
    function decodeUnsignedInto(bytes calldata readings, uint256 index, SignedReading memory out) internal pure {
        uint256 w0;
        uint256 w1;
        assembly ("memory-safe") {
            let p := add(readings.offset, mul(index, 40))
            w0 := calldataload(p) // meterId | seq | timestamp | importWh | exportWh
            // stateOfChargeWh in the top 8 bytes; the last record's tail reads past the end
            // of calldata, which calldataload pads with zeros, and only the top 8 bytes are used.
            w1 := calldataload(add(p, 32))
        }
        _fields(w0, w1, out);
    }

    /// @dev The six signed fields from the record's first 40 bytes, read as two words:
    /// w0 = meterId | seq | timestamp | importWh | exportWh, stateOfChargeWh in w1's top 8 bytes.
    function _fields(uint256 w0, uint256 w1, SignedReading memory out) private pure {
        out.meterId = w0 >> 224;
        out.seq = (w0 >> 192) & 0xffffffff;
        out.timestamp = (w0 >> 128) & 0xffffffffffffffff;
        out.importWh = (w0 >> 64) & 0xffffffffffffffff;
        out.exportWh = w0 & 0xffffffffffffffff;
        out.stateOfChargeWh = w1 >> 192;
    }

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
        _fields(w0, w1, out);
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
