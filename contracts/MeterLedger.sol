// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IMeterLedger} from "../interfaces/IMeterLedger.sol";
import {ISharedBattery} from "../interfaces/ISharedBattery.sol";
import {MeterRecord, MeterSlots} from "./libraries/MeterSlots.sol";
import {ReadingRecord, SignedReading} from "./libraries/ReadingRecord.sol";

/// @title The meter registry and the signed-reading ledger
/// @notice See {IMeterLedger} and docs/ledger.md.
/// @dev The pause flag is kept here, next to `_maxClockSkew`, instead of OpenZeppelin's
/// `Pausable` (whose flag has a slot of its own): every batch reads both, so they share
/// one cold slot. `paused()`, `Paused`/`Unpaused`, `EnforcedPause` and `ExpectedPause`
/// keep OpenZeppelin's names and behaviour.
contract MeterLedger is IMeterLedger, AccessControl, EIP712 {
    // ---------------------------------------------------------------- constants

    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice The largest clock skew the admin may allow for reading timestamps.
    uint64 public constant MAX_CLOCK_SKEW = 3600;
    /// @notice Registers are stored in 40 bits (1.1 TWh); readings above are ValueOutOfRange.
    uint64 public constant MAX_REGISTER_WH = uint64(MeterSlots.MAX_40);

    ISharedBattery public immutable BATTERY;

    // ---------------------------------------------------------------- storage

    /// Per meter: the registrar-written word (see MeterSlots).
    mapping(uint32 meterId => uint256) private _meterStatic;
    /// Per meter: the word every accepted reading rewrites.
    mapping(uint32 meterId => uint256) private _meterState;
    uint32[] private _meterIds;
    uint64 private _maxClockSkew;
    bool private _paused; // in the same slot as _maxClockSkew
    /// The one battery meter (0: none yet); in the same slot as _maxClockSkew.
    uint32 private _batteryMeterId;

    // ---------------------------------------------------------------- pausing (as OpenZeppelin's Pausable)

    event Paused(address account);
    event Unpaused(address account);

    error EnforcedPause();
    error ExpectedPause();

    // ---------------------------------------------------------------- constructor

    constructor(address admin, address battery_, uint64 maxClockSkew_) EIP712("Energo Meter Readings", "1") {
        if (admin == address(0) || battery_ == address(0)) revert LedgerZeroAddress();
        if (maxClockSkew_ > MAX_CLOCK_SKEW) revert LedgerClockSkewTooLarge(maxClockSkew_, MAX_CLOCK_SKEW);
        BATTERY = ISharedBattery(battery_);
        _maxClockSkew = maxClockSkew_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ---------------------------------------------------------------- meters

    /// @inheritdoc IMeterLedger
    function registerMeter(
        uint32 meterId,
        address signer,
        address account,
        MeterKind kind,
        uint32 ratedPowerW,
        uint64 initialImportWh,
        uint64 initialExportWh
    ) external onlyRole(REGISTRAR_ROLE) {
        if (meterId == 0) revert LedgerZeroMeterId();
        if (signer == address(0) || account == address(0)) revert LedgerZeroAddress();
        if (_meterStatic[meterId] != 0) revert LedgerMeterExists(meterId);
        if (ratedPowerW == 0) revert LedgerInvalidRatedPower(ratedPowerW);
        if (initialImportWh > MAX_REGISTER_WH) revert LedgerRegisterTooLarge(initialImportWh, MAX_REGISTER_WH);
        if (initialExportWh > MAX_REGISTER_WH) revert LedgerRegisterTooLarge(initialExportWh, MAX_REGISTER_WH);
        if (kind == MeterKind.Battery) {
            // Exactly one battery meter reports the state of charge: a second one could
            // clear a real deficit or halt minting for everyone (M-1). A revoked one may be
            // replaced.
            uint32 current = _batteryMeterId;
            if (current != 0 && (_meterStatic[current] >> 200) & 0xff != 0) revert LedgerBatteryMeterExists(current);
            _batteryMeterId = meterId;
        }
        _meterStatic[meterId] = MeterSlots.packStatic(signer, account, ratedPowerW, uint8(kind), true);
        // The registration time is the first "last timestamp": energy is measured from here.
        _meterState[meterId] = MeterSlots.packState(account, initialImportWh, initialExportWh, block.timestamp, 0);
        _meterIds.push(meterId);
        emit MeterRegistered(meterId, account, signer, kind, ratedPowerW);
    }

    /// @inheritdoc IMeterLedger
    function revokeMeter(uint32 meterId) external onlyRole(REGISTRAR_ROLE) {
        uint256 staticWord = _meterStatic[meterId];
        if (staticWord == 0) revert LedgerUnknownMeter(meterId);
        if ((staticWord >> 200) & 0xff == 0) revert LedgerMeterAlreadyRevoked(meterId);
        _meterStatic[meterId] = MeterSlots.revoked(staticWord);
        emit MeterRevoked(meterId);
    }

    // ---------------------------------------------------------------- readings

    /// @inheritdoc IMeterLedger
    function submitReadings(bytes calldata batch) external returns (uint256 accepted) {
        if (_paused) revert EnforcedPause();
        uint256 length = batch.length;
        if (length == 0) revert LedgerEmptyBatch();
        if (length % ReadingRecord.SIZE != 0) revert LedgerMalformedBatch(length, ReadingRecord.SIZE);
        uint256 count = length / ReadingRecord.SIZE;
        uint256 latest = block.timestamp + _maxClockSkew;
        SignedReading memory reading;
        for (uint256 i; i < count; ++i) {
            ReadingRecord.decodeInto(batch, i, reading);
            RejectReason reason = _apply(reading, latest, address(0));
            if (reason == RejectReason.None) {
                // Cannot overflow: at most `count` increments.
                unchecked {
                    ++accepted;
                }
            } else {
                emit ReadingRejected(uint32(reading.meterId), uint32(reading.seq), reason);
            }
        }
    }

    /// @inheritdoc IMeterLedger
    function submitBatch(bytes calldata readings, uint8 v, bytes32 r, bytes32 s) external returns (uint256 accepted) {
        if (_paused) revert EnforcedPause();
        uint256 length = readings.length;
        if (length == 0) revert LedgerEmptyBatch();
        if (length % ReadingRecord.UNSIGNED_SIZE != 0) {
            revert LedgerMalformedBatch(length, ReadingRecord.UNSIGNED_SIZE);
        }
        (address gateway, ECDSA.RecoverError error,) =
            ECDSA.tryRecover(_hashTypedDataV4(ReadingRecord.batchHash(readings)), v, r, s);
        // Nothing in the batch is authenticated: no reading can be judged on its own.
        if (error != ECDSA.RecoverError.NoError) revert LedgerBadBatchSignature();
        uint256 count = length / ReadingRecord.UNSIGNED_SIZE;
        uint256 latest = block.timestamp + _maxClockSkew;
        SignedReading memory reading;
        for (uint256 i; i < count; ++i) {
            ReadingRecord.decodeUnsignedInto(readings, i, reading);
            RejectReason reason = _apply(reading, latest, gateway);
            if (reason == RejectReason.None) {
                // Cannot overflow: at most `count` increments.
                unchecked {
                    ++accepted;
                }
            } else {
                emit ReadingRejected(uint32(reading.meterId), uint32(reading.seq), reason);
            }
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IMeterLedger
    function batchDigest(bytes calldata readings) external view returns (bytes32) {
        return _hashTypedDataV4(ReadingRecord.batchHash(readings));
    }

    /// @inheritdoc IMeterLedger
    function batteryMeterId() external view returns (uint32) {
        return _batteryMeterId;
    }

    /// @inheritdoc IMeterLedger
    function meter(uint32 meterId) external view returns (Meter memory) {
        uint256 staticWord = _meterStatic[meterId];
        if (staticWord == 0) revert LedgerUnknownMeter(meterId);
        MeterRecord memory m = MeterSlots.unpack(staticWord, _meterState[meterId]);
        return Meter({
            signer: m.signer,
            account: m.account,
            kind: MeterKind(m.kind),
            active: m.active,
            ratedPowerW: uint32(m.ratedPowerW),
            lastSeq: uint32(m.seq),
            lastTimestamp: uint64(m.timestamp),
            importWh: uint64(m.importWh),
            exportWh: uint64(m.exportWh)
        });
    }

    /// @inheritdoc IMeterLedger
    function readingDigest(MeterReading calldata reading) external view returns (bytes32) {
        return _hashTypedDataV4(
            ReadingRecord.structHash(
                reading.meterId,
                reading.seq,
                reading.timestamp,
                reading.importWh,
                reading.exportWh,
                reading.stateOfChargeWh
            )
        );
    }

    /// @inheritdoc IMeterLedger
    function battery() external view returns (address) {
        return address(BATTERY);
    }

    /// @inheritdoc IMeterLedger
    function maxClockSkew() external view returns (uint64) {
        return _maxClockSkew;
    }

    /// @inheritdoc IMeterLedger
    function meterCount() external view returns (uint256) {
        return _meterIds.length;
    }

    /// @inheritdoc IMeterLedger
    function meterIds(uint256 offset, uint256 limit) external view returns (uint32[] memory ids) {
        uint256 total = _meterIds.length;
        if (offset >= total) return new uint32[](0);
        uint256 end = total - offset < limit ? total : offset + limit;
        ids = new uint32[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            ids[i - offset] = _meterIds[i];
        }
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc IMeterLedger
    function setMaxClockSkew(uint64 seconds_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (seconds_ > MAX_CLOCK_SKEW) revert LedgerClockSkewTooLarge(seconds_, MAX_CLOCK_SKEW);
        emit MaxClockSkewChanged(_maxClockSkew, seconds_);
        _maxClockSkew = seconds_;
    }

    /// @inheritdoc IMeterLedger
    function pause() external onlyRole(PAUSER_ROLE) {
        if (_paused) revert EnforcedPause();
        _paused = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IMeterLedger
    function unpause() external onlyRole(PAUSER_ROLE) {
        if (!_paused) revert ExpectedPause();
        _paused = false;
        emit Unpaused(msg.sender);
    }

    /// @inheritdoc IMeterLedger
    function paused() external view returns (bool) {
        return _paused;
    }

    // ---------------------------------------------------------------- internal

    /// @dev Checks one reading against every acceptance rule, cheapest first after the
    /// signature (so every later reason is about a reading the meter really signed), and
    /// applies it. Never reverts for a bad reading: it returns the reason instead.
    /// `batchSigner` is the key that signed the whole batch (`submitBatch`), which must be
    /// the meter's; address(0) means the reading carries its own signature.
    function _apply(SignedReading memory reading, uint256 latest, address batchSigner) private returns (RejectReason) {
        // The meter's two words are read straight from the stack (see MeterSlots for the
        // layout) rather than unpacked into a memory record: a batch then allocates no
        // memory per reading.
        uint32 meterId = uint32(reading.meterId);
        uint256 staticWord = _meterStatic[meterId];
        if (staticWord == 0) return RejectReason.UnknownMeter;
        if ((staticWord >> 200) & 0xff == 0) return RejectReason.MeterRevoked;
        if (batchSigner == address(0)) {
            if (!_signedBy(reading, address(uint160(staticWord)))) return RejectReason.BadSignature;
        } else if (batchSigner != address(uint160(staticWord))) {
            return RejectReason.BadSignature;
        }
        uint256 stateWord = _meterState[meterId];
        if (reading.seq <= ((stateWord >> 112) & MeterSlots.MAX_32)) return RejectReason.AlreadyApplied;
        uint256 lastTimestamp = (stateWord >> 80) & MeterSlots.MAX_32;
        if (reading.timestamp <= lastTimestamp) return RejectReason.TimestampNotAfterLast;
        if (reading.timestamp > latest) return RejectReason.TimestampInFuture;
        if (
            reading.importWh > MeterSlots.MAX_40 || reading.exportWh > MeterSlots.MAX_40
                || reading.stateOfChargeWh > MeterSlots.MAX_40 || reading.timestamp > MeterSlots.MAX_32
        ) return RejectReason.ValueOutOfRange;
        if (
            reading.importWh < (stateWord & MeterSlots.MAX_40)
                || reading.exportWh < ((stateWord >> 40) & MeterSlots.MAX_40)
        ) return RejectReason.RegisterDecreased;
        uint256 importedWh;
        uint256 exportedWh;
        // Registers only went up (checked just above) and all are below 2^40, so the deltas
        // are below 2^40: their sum times 3600 is below 2^53. ratedPowerW < 2^32 and the
        // interval is positive (timestamp > lastTimestamp) and below 2^32: the product is
        // below 2^64.
        unchecked {
            importedWh = reading.importWh - (stateWord & MeterSlots.MAX_40);
            exportedWh = reading.exportWh - ((stateWord >> 40) & MeterSlots.MAX_40);
            // Wh * 3600 = W * s: the energy of the interval must fit the rated power.
            if (
                (importedWh + exportedWh) * 3600
                    > ((staticWord >> 160) & MeterSlots.MAX_32) * (reading.timestamp - lastTimestamp)
            ) return RejectReason.ExceedsRatedPower;
        }

        // The battery first: if it refuses (paused, say), only this reading is rejected and
        // the meter keeps its last state, so its next accepted reading carries the energy
        // (registers are cumulative): nothing is lost, and the neighbours go on.
        bool applied;
        if ((staticWord >> 192) & 0xff == uint256(MeterKind.Household)) {
            // The account: its high 48 bits in the static word, its low 112 in the state word.
            applied = importedWh | exportedWh == 0
                || _recordFlows(
                    address(uint160(((staticWord >> 208) << 112) | (stateWord >> 144))), exportedWh, importedWh
                );
        } else {
            applied = _reportStateOfCharge(reading.stateOfChargeWh);
        }
        if (!applied) return RejectReason.BatteryRefused;
        // Keep the account's low bits (above bit 144); replace registers, clock and seq.
        _meterState[meterId] = (stateWord & ~((uint256(1) << 144) - 1)) | reading.importWh | (reading.exportWh << 40)
            | (reading.timestamp << 80) | (reading.seq << 112);
        emit ReadingAccepted(
            meterId, uint32(reading.seq), uint64(reading.timestamp), uint64(reading.importWh), uint64(reading.exportWh)
        );
        return RejectReason.None;
    }

    /// @dev BATTERY.recordFlows without decoding its four return values (the ledger does
    /// not use them). A revert with data (the battery's custom error) is a refusal: false.
    /// A revert without data is what running out of gas, or no code at the address, leaves:
    /// then the whole batch reverts, so a relayer cannot get readings rejected by sending
    /// too little gas. A success that returns less than the four words reverts too.
    /// Arguments are written at the free-memory pointer, which is not moved: scratch use,
    /// hence memory-safe.
    function _recordFlows(address account, uint256 exportedWh, uint256 importedWh) private returns (bool ok) {
        address battery_ = address(BATTERY);
        bytes4 selector = ISharedBattery.recordFlows.selector;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), account)
            mstore(add(m, 0x24), exportedWh)
            mstore(add(m, 0x44), importedWh)
            ok := call(gas(), battery_, 0, m, 0x64, 0, 0)
            if iszero(ok) { if iszero(returndatasize()) { revert(0, 0) } }
            if and(ok, lt(returndatasize(), 0x80)) { revert(0, 0) }
        }
    }

    /// @dev BATTERY.reportStateOfCharge with the same rule as `_recordFlows`.
    function _reportStateOfCharge(uint256 stateOfChargeWh) private returns (bool) {
        try BATTERY.reportStateOfCharge(stateOfChargeWh) {
            return true;
        } catch (bytes memory reason) {
            if (reason.length == 0) revert LedgerBatteryOutOfGas();
            return false;
        }
    }

    /// @dev A malformed or high-s signature is a rejection, not a revert (tryRecover).
    function _signedBy(SignedReading memory reading, address signer) private view returns (bool) {
        bytes32 digest = _hashTypedDataV4(ReadingRecord.structHash(reading));
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, reading.v, reading.r, reading.s);
        return error == ECDSA.RecoverError.NoError && recovered == signer;
    }
}
