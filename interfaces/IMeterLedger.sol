// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The meter registry and the signed-reading ledger
/// @notice Meters sign EIP-712 `MeterReading`s of their cumulative registers; anyone
/// relays them in batches. The signature, not the sender, authenticates a reading.
/// A bad reading in a batch is rejected with an event that says why and the rest of
/// the batch is still applied. Accepted household readings move energy through the
/// SharedBattery; battery-meter readings reconcile WATT supply with state of charge.
///
/// EIP-712 domain: name "Energo Meter Readings", version "1", chainId, verifyingContract
/// = this contract. Typed struct:
///   MeterReading(uint32 meterId,uint32 seq,uint64 timestamp,uint64 importWh,uint64 exportWh,uint64 stateOfChargeWh)
/// Batch calldata: records of 105 bytes each, big-endian, concatenated:
///   meterId(4) seq(4) timestamp(8) importWh(8) exportWh(8) stateOfChargeWh(8) r(32) s(32) v(1)
///
/// A gateway may instead sign a whole batch once (`submitBatch`): every meter of the batch
/// must be registered with the gateway's key as its signer. Typed struct:
///   ReadingBatch(bytes readings)
/// where `readings` is the concatenation of 40-byte unsigned records:
///   meterId(4) seq(4) timestamp(8) importWh(8) exportWh(8) stateOfChargeWh(8)
/// Each reading is still judged on its own, with its own rejection reasons; a reading of a
/// meter whose signer is not the batch's is rejected as `BadSignature`.
interface IMeterLedger {
    // ---------------------------------------------------------------- types

    enum MeterKind {
        Household,
        Battery
    }

    /// @notice Why a reading was not applied. `AlreadyApplied` is the harmless
    /// re-submission of a reading whose sequence number was already accepted.
    enum RejectReason {
        None,
        UnknownMeter,
        MeterRevoked,
        BadSignature,
        AlreadyApplied,
        TimestampNotAfterLast,
        TimestampInFuture,
        RegisterDecreased,
        ExceedsRatedPower,
        ValueOutOfRange,
        /// the battery refused the reading's flows or charge report (paused, say); the
        /// meter's next accepted reading carries the energy
        BatteryRefused
    }

    struct MeterReading {
        uint32 meterId;
        uint32 seq;
        uint64 timestamp;
        uint64 importWh;
        uint64 exportWh;
        uint64 stateOfChargeWh;
    }

    struct Meter {
        address signer;
        address account;
        MeterKind kind;
        bool active;
        uint32 ratedPowerW;
        uint32 lastSeq;
        uint64 lastTimestamp;
        uint64 importWh;
        uint64 exportWh;
    }

    // ---------------------------------------------------------------- events

    event MeterRegistered(
        uint32 indexed meterId, address indexed account, address signer, MeterKind kind, uint32 ratedPowerW
    );
    event MeterRevoked(uint32 indexed meterId);
    event MaxClockSkewChanged(uint64 oldSeconds, uint64 newSeconds);
    /// @notice Cumulative registers after the reading (the deltas are the difference
    /// from the meter's previous accepted reading).
    event ReadingAccepted(uint32 indexed meterId, uint32 seq, uint64 timestamp, uint64 importWh, uint64 exportWh);
    event ReadingRejected(uint32 indexed meterId, uint32 seq, RejectReason reason);

    // ---------------------------------------------------------------- errors

    error LedgerMalformedBatch(uint256 length, uint256 recordSize);
    error LedgerEmptyBatch();
    error LedgerMeterExists(uint32 meterId);
    error LedgerUnknownMeter(uint32 meterId);
    error LedgerMeterAlreadyRevoked(uint32 meterId);
    error LedgerZeroAddress();
    error LedgerZeroMeterId();
    error LedgerInvalidRatedPower(uint32 ratedPowerW);
    error LedgerRegisterTooLarge(uint64 value, uint64 max);
    error LedgerClockSkewTooLarge(uint64 seconds_, uint64 max);
    /// @notice A second battery meter while `meterId` is the active one.
    error LedgerBatteryMeterExists(uint32 meterId);
    /// @notice The battery call of a reading ran out of gas: the whole batch reverts, so no
    /// relayer can get readings rejected by sending too little gas.
    error LedgerBatteryOutOfGas();
    /// @notice The batch signature of `submitBatch` is malformed or malleable.
    error LedgerBadBatchSignature();

    // ---------------------------------------------------------------- meters (REGISTRAR_ROLE)

    /// @notice Registers a meter with its registers as they read at installation, so
    /// energy counted before it joined never mints WATT.
    function registerMeter(
        uint32 meterId,
        address signer,
        address account,
        MeterKind kind,
        uint32 ratedPowerW,
        uint64 initialImportWh,
        uint64 initialExportWh
    ) external;

    /// @notice Deactivates a meter for good (REGISTRAR_ROLE); its readings are rejected from then on.
    function revokeMeter(uint32 meterId) external;

    // ---------------------------------------------------------------- readings (anyone)

    /// @notice Applies a batch of signed readings (see the record layout above).
    /// @return accepted how many readings of the batch were applied
    function submitReadings(bytes calldata batch) external returns (uint256 accepted);

    /// @notice Applies a batch of unsigned readings that one gateway key signed as a whole
    /// (EIP-712 `ReadingBatch`, see above). Reverts only if the signature itself is
    /// malformed; each reading is otherwise accepted or rejected on its own.
    /// @return accepted how many readings of the batch were applied
    function submitBatch(bytes calldata readings, uint8 v, bytes32 r, bytes32 s) external returns (uint256 accepted);

    // ---------------------------------------------------------------- views

    /// @notice A registered meter, whole (its static and its reading state).
    function meter(uint32 meterId) external view returns (Meter memory);
    /// @notice The EIP-712 digest a meter signs for `reading`.
    function readingDigest(MeterReading calldata reading) external view returns (bytes32);
    /// @notice The EIP-712 digest a gateway signs for a batch of unsigned records.
    function batchDigest(bytes calldata readings) external view returns (bytes32);
    /// @notice The one battery meter whose state of charge reconciles the WATT supply (0: none yet).
    function batteryMeterId() external view returns (uint32);
    /// @notice The SharedBattery the ledger mints and burns WATT in.
    function battery() external view returns (address);
    /// @notice How far ahead of the block time a reading's timestamp may be, in seconds.
    function maxClockSkew() external view returns (uint64);
    /// @notice How many meters were ever registered.
    function meterCount() external view returns (uint256);
    /// @notice Meter ids in registration order, paged.
    function meterIds(uint256 offset, uint256 limit) external view returns (uint32[] memory);

    // ---------------------------------------------------------------- admin

    /// @notice Sets the allowed clock skew (admin), at most MAX_CLOCK_SKEW seconds.
    function setMaxClockSkew(uint64 seconds_) external;
    /// @notice Pauses readings (PAUSER_ROLE).
    function pause() external;
    /// @notice Lifts the pause (PAUSER_ROLE).
    function unpause() external;
    /// @notice Whether readings are refused (as OpenZeppelin's `Pausable.paused`).
    function paused() external view returns (bool);
}
