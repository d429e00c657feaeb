// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {ISharedBattery} from "../interfaces/ISharedBattery.sol";
import {IMeterLedger} from "../interfaces/IMeterLedger.sol";
import {AccountBook, Holding, EnergyBook, TradeBook} from "./libraries/AccountBook.sol";
import {RentIndex} from "./libraries/RentIndex.sol";

/// @title The shared community battery: WATT, storage rent and the TSL escrow
/// @notice See {ISharedBattery} and docs/ledger.md. The ERC-20 is written here, not taken
/// from OpenZeppelin, because a WATT balance shares its storage slot with the free TSL
/// deposit and the rent checkpoint: settling rent and moving WATT is then one write.
contract SharedBattery is ISharedBattery, IERC20Errors, AccessControl {
    using AccountBook for Holding;
    using AccountBook for EnergyBook;
    using AccountBook for TradeBook;
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- constants

    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice WATT base units in one Wh.
    uint256 public constant WH = 1e15;
    /// @notice Above this the rent index could outgrow its 80 bits within 300 years.
    uint256 public constant MAX_RENT_PER_WATT_DAY = 1e19;
    /// @notice Keeps every WATT balance (at most the supply) within its 88 bits.
    uint256 public constant MAX_CAPACITY_WH = AccountBook.MAX_88 / WH;

    uint256 private constant _MAX_40 = AccountBook.MAX_40;
    uint256 private constant _MAX_64 = (1 << 64) - 1;
    uint256 private constant _MAX_80 = AccountBook.MAX_80;
    uint256 private constant _MAX_96 = (1 << 96) - 1;
    uint256 private constant _BPS = 10_000;
    // Bit offsets of the counters in the energy word (see AccountBook).
    uint256 private constant _GENERATED = 40;
    uint256 private constant _STORED = 80;
    uint256 private constant _FROM_BATTERY = 120;
    uint256 private constant _FROM_GRID = 160;
    uint256 private constant _SPILLED = 200;

    IERC20 public immutable TSL;

    // ---------------------------------------------------------------- storage

    /// Per account: the rent-bearing word (see AccountBook).
    mapping(address account => uint256) private _holdings;
    /// Per account: the lock and the energy counters.
    mapping(address account => uint256) private _energy;
    /// Per account: locked TSL and the trade counters.
    mapping(address account => uint256) private _trades;
    mapping(address owner => mapping(address spender => uint256)) private _allowances;

    // Global state in four words, grouped by who needs them: a reading or a transfer
    // touches only the first three (see docs/ledger.md, "Storage layout").
    /// index (80) | lastAccrual (40) << 80 | supplyWh (40) << 120 | tslCollected (96) << 160
    uint256 private _rent;
    /// operator (160) | rentPerWattDay (64) << 160
    uint256 private _config;
    /// ledger (160) | capacityWh (40) << 160 | chargeEfficiencyBps (16) << 200 | mintingHalted (8) << 216
    /// | paused (8) << 224
    uint256 private _core;
    /// reserveToleranceWh (40) | stateOfChargeWh (40) << 40 | utilityPrice (96) << 80
    uint256 private _reserve;

    modifier whenNotPaused() {
        _requireNotPaused(_core);
        _;
    }

    // ---------------------------------------------------------------- constructor

    constructor(
        address admin,
        address tsl_,
        address operator_,
        uint256 capacityWh_,
        uint16 chargeEfficiencyBps_,
        uint256 rentPerWattDay_,
        uint256 utilityPrice_,
        uint256 reserveToleranceWh_
    ) {
        if (admin == address(0) || tsl_ == address(0) || operator_ == address(0)) {
            revert BatteryZeroAddress();
        }
        if (capacityWh_ > MAX_CAPACITY_WH) revert BatteryAmountTooLarge(capacityWh_, MAX_CAPACITY_WH);
        if (chargeEfficiencyBps_ == 0 || chargeEfficiencyBps_ > _BPS) {
            revert BatteryInvalidEfficiency(chargeEfficiencyBps_);
        }
        if (rentPerWattDay_ > MAX_RENT_PER_WATT_DAY) {
            revert BatteryRentRateTooHigh(rentPerWattDay_, MAX_RENT_PER_WATT_DAY);
        }
        if (utilityPrice_ == 0 || utilityPrice_ > _MAX_96) revert BatteryInvalidUtilityPrice(utilityPrice_);
        if (reserveToleranceWh_ > _MAX_40) revert BatteryAmountTooLarge(reserveToleranceWh_, _MAX_40);
        TSL = IERC20(tsl_);
        _config = uint256(uint160(operator_)) | (rentPerWattDay_ << 160);
        _core = (capacityWh_ << 160) | (uint256(chargeEfficiencyBps_) << 200);
        _reserve = reserveToleranceWh_ | (utilityPrice_ << 80);
        _rent = block.timestamp << 80;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        emit OperatorChanged(address(0), operator_);
    }

    // ---------------------------------------------------------------- ERC-20

    /// @inheritdoc IERC20Metadata
    function name() external pure returns (string memory) {
        return "Energo WATT";
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external pure returns (string memory) {
        return "WATT";
    }

    /// @inheritdoc IERC20Metadata
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return ((_rent >> 120) & _MAX_40) * WH;
    }

    /// @inheritdoc IERC20
    /// @dev The balance as last settled; pendingRent shows what settling would take.
    function balanceOf(address account) external view returns (uint256) {
        return _holdings[account] & AccountBook.MAX_88;
    }

    /// @inheritdoc IERC20
    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 amount) external returns (bool) {
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        _allowances[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    /// @inheritdoc IERC20
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert ERC20InsufficientAllowance(msg.sender, allowed, amount);
            // Cannot underflow: checked just above.
            unchecked {
                _allowances[from][msg.sender] = allowed - amount;
            }
        }
        _transfer(from, to, amount);
        return true;
    }

    // ---------------------------------------------------------------- deposits

    /// @inheritdoc ISharedBattery
    function deposit(uint256 amount) external whenNotPaused {
        _deposit(amount);
    }

    /// @inheritdoc ISharedBattery
    /// @dev A failed permit is ignored when the allowance is already there (someone may
    /// have front-run the permit with the same signature); transferFrom then decides.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external whenNotPaused {
        try IERC20Permit(address(TSL)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(amount);
    }

    /// @inheritdoc ISharedBattery
    /// @dev Open while paused: users can always take their free TSL out.
    function withdraw(uint256 amount) external {
        if (amount == 0) revert BatteryZeroAmount();
        uint256 config = _config;
        uint256 holding = _settledWord(msg.sender, _accrue(config), config);
        uint256 free = (holding >> 88) & AccountBook.MAX_88;
        if (free < amount) revert BatteryInsufficientFreeTsl(msg.sender, free, amount);
        // amount <= free (checked just above): the subtraction stays inside the free-TSL field.
        _holdings[msg.sender] = holding - (amount << 88);
        TSL.safeTransfer(msg.sender, amount);
        emit TslWithdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------- rent

    /// @inheritdoc ISharedBattery
    function settleRent(address account) external {
        uint256 config = _config;
        Holding memory h = _settle(account, _accrue(config), config);
        _holdings[account] = h.pack();
    }

    /// @inheritdoc ISharedBattery
    function claimRent() external returns (uint256 amount) {
        address operator_ = address(uint160(_config));
        if (msg.sender != operator_) revert BatteryNotOperator(msg.sender);
        amount = _payOutRent(operator_);
    }

    /// @inheritdoc ISharedBattery
    function pendingRent(address account) public view returns (uint256 tslDue, uint256 wattDue) {
        uint256 config = _config;
        if (account == address(uint160(config))) return (0, 0);
        Holding memory h = AccountBook.unpackHolding(_holdings[account]);
        uint256 due = RentIndex.rentDue(h.watt, _currentIndex(config), h.rentCheckpoint);
        if (due <= h.freeTsl) return (due, 0);
        wattDue = RentIndex.wattInKind(due - h.freeTsl, _reserve >> 80);
        return (h.freeTsl, wattDue < h.watt ? wattDue : h.watt);
    }

    /// @inheritdoc ISharedBattery
    function daysOfStorage(address account) external view returns (uint256 daysWad) {
        uint256 config = _config;
        uint256 rate = (config >> 160) & _MAX_64;
        Holding memory h = AccountBook.unpackHolding(_holdings[account]);
        if (h.watt == 0 || rate == 0 || account == address(uint160(config))) return type(uint256).max;
        (uint256 tslDue, uint256 wattDue) = pendingRent(account);
        if (wattDue != 0) return 0;
        return RentIndex.daysCovered(h.freeTsl - tslDue, h.watt, rate);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ISharedBattery
    function freeTslOf(address account) external view returns (uint256) {
        return (_holdings[account] >> 88) & AccountBook.MAX_88;
    }

    /// @inheritdoc ISharedBattery
    function lockedTslOf(address account) external view returns (uint256) {
        return _trades[account] & AccountBook.MAX_88;
    }

    /// @inheritdoc ISharedBattery
    function lockedWattOf(address account) external view returns (uint256) {
        return (_energy[account] & _MAX_40) * WH;
    }

    /// @inheritdoc ISharedBattery
    function spendableWattOf(address account) external view returns (uint256) {
        return (_holdings[account] & AccountBook.MAX_88) - (_energy[account] & _MAX_40) * WH;
    }

    /// @inheritdoc ISharedBattery
    function countersOf(address account) external view returns (EnergyCounters memory c) {
        EnergyBook memory e = AccountBook.unpackEnergy(_energy[account]);
        TradeBook memory t = AccountBook.unpackTrade(_trades[account]);
        c = EnergyCounters({
            generatedWh: uint64(e.generatedWh),
            storedWh: uint64(e.storedWh),
            consumedFromBatteryWh: uint64(e.fromBatteryWh),
            consumedFromGridWh: uint64(e.fromGridWh),
            spilledWh: uint64(e.spilledWh),
            purchasedWh: uint64(t.purchasedWh),
            soldWh: uint64(t.soldWh)
        });
    }

    /// @inheritdoc ISharedBattery
    function tsl() external view returns (address) {
        return address(TSL);
    }

    /// @inheritdoc ISharedBattery
    function ledger() external view returns (address) {
        return address(uint160(_core));
    }

    /// @inheritdoc ISharedBattery
    function operator() external view returns (address) {
        return address(uint160(_config));
    }

    /// @inheritdoc ISharedBattery
    function rentPerWattDay() external view returns (uint256) {
        return (_config >> 160) & _MAX_64;
    }

    /// @inheritdoc ISharedBattery
    function utilityPrice() external view returns (uint256) {
        return _reserve >> 80;
    }

    /// @inheritdoc ISharedBattery
    function capacityWh() external view returns (uint256) {
        return (_core >> 160) & _MAX_40;
    }

    /// @inheritdoc ISharedBattery
    function chargeEfficiencyBps() external view returns (uint16) {
        return uint16(_core >> 200);
    }

    /// @inheritdoc ISharedBattery
    function reserveToleranceWh() external view returns (uint256) {
        return _reserve & _MAX_40;
    }

    /// @inheritdoc ISharedBattery
    function lastStateOfChargeWh() external view returns (uint256) {
        return (_reserve >> 40) & _MAX_40;
    }

    /// @inheritdoc ISharedBattery
    function mintingHalted() external view returns (bool) {
        return (_core >> 216) & 0xff != 0;
    }

    /// @inheritdoc ISharedBattery
    function rentCollected() external view returns (uint256) {
        return _rent >> 160;
    }

    /// @inheritdoc ISharedBattery
    function supplyWh() external view returns (uint256) {
        return (_rent >> 120) & _MAX_40;
    }

    /// @inheritdoc ISharedBattery
    function paused() external view returns (bool) {
        return (_core >> 224) & 0xff != 0;
    }

    /// @inheritdoc ISharedBattery
    function rentIndex() external view returns (uint256) {
        return _currentIndex(_config);
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc ISharedBattery
    function setRentRate(uint256 rentPerWattDay_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (rentPerWattDay_ > MAX_RENT_PER_WATT_DAY) {
            revert BatteryRentRateTooHigh(rentPerWattDay_, MAX_RENT_PER_WATT_DAY);
        }
        uint256 config = _config;
        _accrue(config); // rent up to now at the old rate: a change applies only going forward
        uint256 old = (config >> 160) & _MAX_64;
        _config = (config & ~(_MAX_64 << 160)) | (rentPerWattDay_ << 160);
        emit RentRateChanged(old, rentPerWattDay_);
    }

    /// @inheritdoc ISharedBattery
    function setUtilityPrice(uint256 pricePerWatt) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (pricePerWatt == 0 || pricePerWatt > _MAX_96) revert BatteryInvalidUtilityPrice(pricePerWatt);
        uint256 reserve = _reserve;
        _reserve = (reserve & ~(_MAX_96 << 80)) | (pricePerWatt << 80);
        emit UtilityPriceChanged(reserve >> 80, pricePerWatt);
    }

    /// @inheritdoc ISharedBattery
    function setCapacity(uint256 capacityWh_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (capacityWh_ > MAX_CAPACITY_WH) revert BatteryAmountTooLarge(capacityWh_, MAX_CAPACITY_WH);
        uint256 supply = (_rent >> 120) & _MAX_40;
        if (capacityWh_ < supply) revert BatteryCapacityBelowSupply(capacityWh_, supply);
        uint256 core = _core;
        _core = (core & ~(_MAX_40 << 160)) | (capacityWh_ << 160);
        emit CapacityChanged((core >> 160) & _MAX_40, capacityWh_);
    }

    /// @inheritdoc ISharedBattery
    function setChargeEfficiency(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bps == 0 || bps > _BPS) revert BatteryInvalidEfficiency(bps);
        uint256 core = _core;
        _core = (core & ~(uint256(0xffff) << 200)) | (uint256(bps) << 200);
        emit ChargeEfficiencyChanged(uint16(core >> 200), bps);
    }

    /// @inheritdoc ISharedBattery
    function setReserveTolerance(uint256 toleranceWh) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (toleranceWh > _MAX_40) revert BatteryAmountTooLarge(toleranceWh, _MAX_40);
        uint256 reserve = _reserve;
        _reserve = (reserve & ~_MAX_40) | toleranceWh;
        emit ReserveToleranceChanged(reserve & _MAX_40, toleranceWh);
    }

    /// @inheritdoc ISharedBattery
    /// @dev The old operator is paid the rent collected so far and starts paying rent on
    /// its own WATT from now; the new one settles what it owes up to now, then is exempt.
    function setOperator(address operator_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (operator_ == address(0)) revert BatteryZeroAddress();
        uint256 config = _config;
        address old = address(uint160(config));
        uint256 index = _accrue(config);
        _payOutRent(old);
        Holding memory h = _settle(operator_, index, config);
        _holdings[operator_] = h.pack();
        Holding memory o = AccountBook.unpackHolding(_holdings[old]);
        o.rentCheckpoint = index;
        _holdings[old] = o.pack();
        _config = (config & ~uint256(type(uint160).max)) | uint256(uint160(operator_));
        emit OperatorChanged(old, operator_);
    }

    /// @inheritdoc ISharedBattery
    function bindLedger(address ledger_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 core = _core;
        address bound = address(uint160(core));
        if (bound != address(0)) revert BatteryLedgerAlreadyBound(bound);
        if (ledger_ == address(0)) revert BatteryZeroAddress();
        if (IMeterLedger(ledger_).battery() != address(this)) revert BatteryLedgerMismatch(ledger_);
        _core = core | uint256(uint160(ledger_));
        emit LedgerBound(ledger_);
    }

    /// @inheritdoc ISharedBattery
    function pause() external onlyRole(PAUSER_ROLE) {
        uint256 core = _core;
        _requireNotPaused(core);
        _core = core | (uint256(1) << 224);
        emit Paused(msg.sender);
    }

    /// @inheritdoc ISharedBattery
    function unpause() external onlyRole(PAUSER_ROLE) {
        uint256 core = _core;
        if ((core >> 224) & 0xff == 0) revert ExpectedPause();
        _core = core & ~(uint256(0xff) << 224);
        emit Unpaused(msg.sender);
    }

    // ---------------------------------------------------------------- ledger hooks

    /// @inheritdoc ISharedBattery
    function recordFlows(address account, uint256 exportedWh, uint256 importedWh)
        external
        returns (uint256 storedWh, uint256 spilledWh, uint256 fromBatteryWh, uint256 fromGridWh)
    {
        // The hot path of every reading works on the packed words directly (no memory
        // structs): one read and one write of the holding, the energy and the rent word.
        uint256 core = _core;
        _requireLedger(core);
        _requireNotPaused(core);
        // The rent word is read once and written once per reading: the accrual, the rent
        // collected by the settlement and the supply change all go into this copy.
        (uint256 holding, uint256 rentWord, bool rentChanged) = _settleForReading(account);
        uint256 energy = _energy[account]; // read after settling: rent in kind may shrink the lock
        uint256 supply = (rentWord >> 120) & _MAX_40;
        // The ledger, the only caller (checked above), passes register deltas of 40-bit
        // registers: exportedWh, importedWh < 2^40. Every counter and the supply are
        // 40-bit fields, so no sum or product below comes near 2^256.
        unchecked {
            if (exportedWh != 0) {
                (storedWh, spilledWh) = _charge(exportedWh, core, supply);
                energy = _addCounter(energy, _GENERATED, exportedWh);
                energy = _addCounter(energy, _STORED, storedWh);
                energy = _addCounter(energy, _SPILLED, spilledWh);
                // storedWh <= free capacity: the supply stays <= capacity < 2^40 Wh and the
                // balance (<= supply * WH < 2^88) cannot carry out of its field.
                supply += storedWh;
                holding += storedWh * WH;
            }
            if (importedWh != 0) {
                // The lock never exceeds the balance (locks are taken from spendable WATT
                // and rent in kind shrinks the lock with the balance): no underflow.
                uint256 spendableWh = ((holding & AccountBook.MAX_88) - (energy & _MAX_40) * WH) / WH;
                fromBatteryWh = importedWh < spendableWh ? importedWh : spendableWh;
                // fromBatteryWh <= importedWh by the line above.
                fromGridWh = importedWh - fromBatteryWh;
                energy = _addCounter(energy, _FROM_BATTERY, fromBatteryWh);
                energy = _addCounter(energy, _FROM_GRID, fromGridWh);
                // fromBatteryWh <= the account's spendable balance <= its balance <= supply.
                supply -= fromBatteryWh;
                // fromBatteryWh * WH <= the spendable balance, so the field cannot borrow.
                holding -= fromBatteryWh * WH;
            }
        }
        _holdings[account] = holding;
        _energy[account] = energy;
        if (storedWh != fromBatteryWh) {
            rentChanged = true;
            rentWord = (rentWord & ~(_MAX_40 << 120)) | (supply << 120);
            // One Transfer for the net change, as the ERC-20 sees only the net.
            // Neither subtraction can underflow: each runs only when it is positive.
            unchecked {
                if (storedWh > fromBatteryWh) emit Transfer(address(0), account, (storedWh - fromBatteryWh) * WH);
                else emit Transfer(account, address(0), (fromBatteryWh - storedWh) * WH);
            }
        }
        if (rentChanged) _rent = rentWord;
    }

    /// @dev recordFlows' settlement: the rent index brought up to now and the account's
    /// rent settled as `_accrue` + `_settledWord` do, but the rent word is returned (with
    /// the new index and the collected rent) instead of written; `changed` tells whether
    /// it differs from storage.
    function _settleForReading(address account) private returns (uint256 holding, uint256 rentWord, bool changed) {
        uint256 config = _config;
        uint256 stored = _rent;
        uint256 index;
        (index, rentWord) = _accruedWord(stored, config);
        uint256 collected;
        (holding, collected) = _settleCore(account, index, config);
        // Collected rent is at most the TSL supply, below its 96 bits (7.9e28): the sum
        // stays inside the top field (the same bound as in `_settledWord`).
        rentWord += collected << 160;
        changed = rentWord != stored;
    }

    /// @inheritdoc ISharedBattery
    function reportStateOfCharge(uint256 stateOfChargeWh) external {
        uint256 core = _core;
        _requireLedger(core);
        _requireNotPaused(core);
        uint256 supply = (_rent >> 120) & _MAX_40;
        uint256 reserve = _reserve;
        _reserve = (reserve & ~(_MAX_40 << 40)) | ((stateOfChargeWh & _MAX_40) << 40);
        emit StateOfChargeReported(stateOfChargeWh, supply);
        bool halted = (core >> 216) & 0xff != 0;
        if (supply > stateOfChargeWh + (reserve & _MAX_40)) {
            if (!halted) _core = core | (uint256(1) << 216);
            emit ReserveDeficit(supply, stateOfChargeWh, supply - stateOfChargeWh);
        } else if (halted) {
            _core = core & ~(uint256(0xff) << 216);
            emit ReserveRestored(supply, stateOfChargeWh);
        }
    }

    // ---------------------------------------------------------------- market hooks

    /// @inheritdoc ISharedBattery
    function lockWatt(address account, uint256 amount) external onlyRole(MARKET_ROLE) whenNotPaused {
        _requireWholeWh(amount);
        uint256 config = _config;
        uint256 holding = _settledWord(account, _accrue(config), config);
        _holdings[account] = holding;
        uint256 energy = _energy[account];
        uint256 spendable = (holding & AccountBook.MAX_88) - (energy & _MAX_40) * WH;
        if (amount > spendable) revert BatteryInsufficientSpendableWatt(account, spendable, amount);
        // lockedWh + amount / WH <= watt / WH < 2^40, so the field cannot carry over.
        _energy[account] = energy + amount / WH;
    }

    /// @inheritdoc ISharedBattery
    function unlockWatt(address account, uint256 amount)
        external
        onlyRole(MARKET_ROLE)
        whenNotPaused
        returns (uint256 unlocked)
    {
        _requireWholeWh(amount);
        uint256 config = _config;
        _holdings[account] = _settledWord(account, _accrue(config), config);
        uint256 energy = _energy[account];
        uint256 lockedWh = energy & _MAX_40;
        uint256 unlockedWh = amount / WH < lockedWh ? amount / WH : lockedWh;
        _energy[account] = energy - unlockedWh;
        unlocked = unlockedWh * WH;
    }

    /// @inheritdoc ISharedBattery
    function lockTsl(address account, uint256 amount) external onlyRole(MARKET_ROLE) whenNotPaused {
        if (amount == 0) revert BatteryZeroAmount();
        uint256 config = _config;
        uint256 holding = _settledWord(account, _accrue(config), config);
        uint256 free = (holding >> 88) & AccountBook.MAX_88;
        if (free < amount) revert BatteryInsufficientFreeTsl(account, free, amount);
        // amount <= free (checked just above): the subtraction stays inside the free-TSL field.
        _holdings[account] = holding - (amount << 88);
        uint256 trade = _trades[account];
        // amount <= free < 2^88, so the sum cannot overflow; above 2^88 it is refused.
        if ((trade & AccountBook.MAX_88) + amount > AccountBook.MAX_88) {
            revert BatteryAmountTooLarge(amount, AccountBook.MAX_88);
        }
        // The sum stays within the lockedTsl field (checked just above).
        _trades[account] = trade + amount;
    }

    /// @inheritdoc ISharedBattery
    function unlockTsl(address account, uint256 amount) external onlyRole(MARKET_ROLE) whenNotPaused {
        if (amount == 0) revert BatteryZeroAmount();
        uint256 trade = _trades[account];
        uint256 locked = trade & AccountBook.MAX_88;
        if (locked < amount) revert BatteryInsufficientLockedTsl(account, locked, amount);
        // amount <= locked, so the subtraction stays inside the lockedTsl field.
        _trades[account] = trade - amount;
        _creditFree(account, amount);
    }

    /// @inheritdoc ISharedBattery
    /// @dev Works on the packed words (no memory structs). The seller's words are written
    /// before the buyer's are read, so a self-trade sees its own first half.
    function settleFill(Fill calldata fill) external onlyRole(MARKET_ROLE) whenNotPaused returns (uint256 wattMoved) {
        if (fill.wattAmount == 0) revert BatteryZeroAmount();
        _requireWholeWh(fill.wattAmount);
        if (fill.seller == address(0) || fill.buyer == address(0)) revert BatteryZeroAddress();
        if (fill.feeTsl > fill.tslAmount) revert BatteryAmountTooLarge(fill.feeTsl, fill.tslAmount);
        if (fill.feeTsl != 0 && fill.feeRecipient == address(0)) revert BatteryZeroAddress();
        uint256 config = _config;
        uint256 index = _accrue(config);

        uint256 tslMoved;
        uint256 fee;
        (wattMoved, tslMoved, fee) = _settleSeller(fill, index, config);

        address buyer = fill.buyer;
        uint256 holding = _settledWord(buyer, index, config);
        uint256 trade = _trades[buyer];
        if (fill.buyerLocked) {
            uint256 locked = trade & AccountBook.MAX_88;
            if (locked < tslMoved) revert BatteryInsufficientLockedTsl(buyer, locked, tslMoved);
            // tslMoved <= locked: the subtraction stays inside the lockedTsl field.
            trade -= tslMoved;
        } else {
            uint256 free = (holding >> 88) & AccountBook.MAX_88;
            if (free < tslMoved) revert BatteryInsufficientFreeTsl(buyer, free, tslMoved);
            // tslMoved <= free: the subtraction stays inside the free-TSL field.
            holding -= tslMoved << 88;
        }
        // The buyer's WATT stays below the supply, below 2^88: no carry out of its field.
        holding += wattMoved;
        _holdings[buyer] = holding;
        _trades[buyer] = _addTradeCounter(trade, 88, wattMoved / WH);
        if (fee != 0) _creditFree(fill.feeRecipient, fee);
        emit Transfer(fill.seller, buyer, wattMoved);
    }

    /// @dev settleFill's seller half: settles the seller, takes the WATT (from its lock or
    /// its spendable balance), credits the TSL less the fee, counts the sale. Returns what
    /// moved: the WATT, the TSL and the fee (pro rata when the lock had shrunk).
    function _settleSeller(Fill calldata fill, uint256 index, uint256 config)
        private
        returns (uint256 wattMoved, uint256 tslMoved, uint256 fee)
    {
        address seller = fill.seller;
        uint256 holding = _settledWord(seller, index, config);
        uint256 watt = holding & AccountBook.MAX_88;
        uint256 energy = _energy[seller];
        uint256 lockedWh = energy & _MAX_40;
        if (fill.sellerLocked) {
            uint256 lockedWatt = lockedWh * WH;
            wattMoved = fill.wattAmount < lockedWatt ? fill.wattAmount : lockedWatt;
            _energy[seller] = energy - wattMoved / WH;
        } else {
            uint256 spendable = watt - lockedWh * WH;
            if (fill.wattAmount > spendable) {
                revert BatteryInsufficientSpendableWatt(seller, spendable, fill.wattAmount);
            }
            wattMoved = fill.wattAmount;
        }
        tslMoved = fill.tslAmount;
        fee = fill.feeTsl;
        if (wattMoved != fill.wattAmount) {
            tslMoved = fill.tslAmount * wattMoved / fill.wattAmount;
            fee = fill.feeTsl * wattMoved / fill.wattAmount; // <= tslMoved, since feeTsl <= tslAmount
        }
        watt -= wattMoved;
        uint256 free = ((holding >> 88) & AccountBook.MAX_88) + (tslMoved - fee);
        if (free > AccountBook.MAX_88) revert BatteryAmountTooLarge(tslMoved - fee, AccountBook.MAX_88);
        _holdings[seller] = (holding >> 176 << 176) | (free << 88) | watt;
        _trades[seller] = _addTradeCounter(_trades[seller], 128, wattMoved / WH);
    }

    // ---------------------------------------------------------------- internal

    function _transfer(address from, address to, uint256 amount) private whenNotPaused {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 config = _config;
        uint256 index = _accrue(config);
        uint256 holding = _settledWord(from, index, config);
        uint256 spendable = (holding & AccountBook.MAX_88) - (_energy[from] & _MAX_40) * WH;
        if (amount > spendable) revert ERC20InsufficientBalance(from, spendable, amount);
        // Cannot underflow or borrow from the next field: amount <= spendable <= watt.
        unchecked {
            _holdings[from] = holding - amount;
        }
        // Read after the write above: a transfer to oneself sees its own debit.
        holding = _settledWord(to, index, config);
        // Cannot carry out of the field: every balance is at most the supply, below 2^88.
        _holdings[to] = holding + amount;
        emit Transfer(from, to, amount);
    }

    function _deposit(uint256 amount) private {
        if (amount == 0) revert BatteryZeroAmount();
        uint256 config = _config;
        uint256 holding = _settledWord(msg.sender, _accrue(config), config);
        uint256 free = (holding >> 88) & AccountBook.MAX_88;
        if (free + amount > AccountBook.MAX_88) {
            revert BatteryAmountTooLarge(amount, AccountBook.MAX_88 - free);
        }
        // free + amount <= MAX_88 (checked just above): no carry out of the free-TSL field.
        _holdings[msg.sender] = holding + (amount << 88);
        TSL.safeTransferFrom(msg.sender, address(this), amount);
        emit TslDeposited(msg.sender, amount);
    }

    /// @dev Credits free TSL without settling rent: rent depends on WATT held only, and the
    /// credit can only help pay it at the next settlement.
    function _creditFree(address account, uint256 amount) private {
        uint256 word = _holdings[account];
        uint256 free = ((word >> 88) & AccountBook.MAX_88) + amount;
        if (free > AccountBook.MAX_88) revert BatteryAmountTooLarge(amount, AccountBook.MAX_88);
        _holdings[account] = (word & ~(AccountBook.MAX_88 << 88)) | (free << 88);
    }

    function _payOutRent(address to) private returns (uint256 amount) {
        uint256 word = _rent;
        amount = word >> 160;
        _rent = word & ((uint256(1) << 160) - 1);
        if (amount != 0) TSL.safeTransfer(to, amount);
        emit RentClaimed(to, amount);
    }

    /// @dev Brings the rent index up to now (once per block) and returns it.
    function _accrue(uint256 config) private returns (uint256 index) {
        uint256 word = _rent;
        index = word & _MAX_80;
        uint256 last = (word >> 80) & _MAX_40;
        if (last == block.timestamp) return index;
        index = RentIndex.accrued(index, (config >> 160) & _MAX_64, block.timestamp - last);
        _rent = (word & ~((uint256(1) << 120) - 1)) | index | (block.timestamp << 80);
    }

    /// @dev The rent word with the index brought up to now, and that index; not written.
    function _accruedWord(uint256 word, uint256 config) private view returns (uint256 index, uint256 updated) {
        index = word & _MAX_80;
        uint256 last = (word >> 80) & _MAX_40;
        if (last == block.timestamp) return (index, word);
        index = RentIndex.accrued(index, (config >> 160) & _MAX_64, block.timestamp - last);
        updated = (word & ~((uint256(1) << 120) - 1)) | index | (block.timestamp << 80);
    }

    function _currentIndex(uint256 config) private view returns (uint256) {
        uint256 word = _rent;
        return RentIndex.accrued(word & _MAX_80, (config >> 160) & _MAX_64, block.timestamp - ((word >> 80) & _MAX_40));
    }

    /// @dev Settles `account`'s rent up to `index` and returns its holding, NOT yet
    /// written back (the caller changes it further and writes once).
    function _settle(address account, uint256 index, uint256 config) private returns (Holding memory) {
        return AccountBook.unpackHolding(_settledWord(account, index, config));
    }

    /// @dev `_settle` on the packed word. Rent in kind is applied here in full: WATT to
    /// the operator, the account's lock shrunk to what is left.
    function _settledWord(address account, uint256 index, uint256 config) private returns (uint256 holding) {
        holding = _holdings[account];
        uint256 checkpoint = holding >> 176;
        if (checkpoint == index) return holding;
        // Replace the checkpoint (the top field) with the current index.
        holding = (holding & ((uint256(1) << 176) - 1)) | (index << 176);
        address operator_ = address(uint160(config));
        if (account == operator_) return holding; // the operator is rent-exempt
        uint256 watt = holding & AccountBook.MAX_88;
        uint256 due = RentIndex.rentDue(watt, index, checkpoint);
        if (due == 0) return holding;
        uint256 free = (holding >> 88) & AccountBook.MAX_88;
        if (due <= free) {
            // Collected rent is at most the TSL supply, below its 96 bits (7.9e28).
            _rent += due << 160;
            // due <= free: the subtraction stays inside the free-TSL field.
            return holding - (due << 88);
        }
        _rent += free << 160;
        // free < due here. Free TSL is taken whole and becomes zero; the rest is paid in kind.
        holding = (holding >> 176 << 176) | _payInKind(account, operator_, watt, due - free);
    }

    /// @dev `_settledWord` (the same steps, kept in step with it) without the write of the
    /// rent word, for recordFlows: returns the TSL collected from the account's free
    /// deposit, which the caller adds to `tslCollected`. Rent in kind (the operator's WATT,
    /// the account's lock) is written here.
    function _settleCore(address account, uint256 index, uint256 config)
        private
        returns (uint256 holding, uint256 collected)
    {
        holding = _holdings[account];
        uint256 checkpoint = holding >> 176;
        if (checkpoint == index) return (holding, 0);
        // Replace the checkpoint (the top field) with the current index.
        holding = (holding & ((uint256(1) << 176) - 1)) | (index << 176);
        address operator_ = address(uint160(config));
        if (account == operator_) return (holding, 0); // the operator is rent-exempt
        uint256 watt = holding & AccountBook.MAX_88;
        uint256 due = RentIndex.rentDue(watt, index, checkpoint);
        if (due == 0) return (holding, 0);
        uint256 free = (holding >> 88) & AccountBook.MAX_88;
        if (due <= free) {
            // due <= free: the subtraction stays inside the free-TSL field.
            return (holding - (due << 88), due);
        }
        // free < due here. Free TSL is taken whole and becomes zero; the rest is paid in kind.
        holding = (holding >> 176 << 176) | _payInKind(account, operator_, watt, due - free);
        return (holding, free);
    }

    /// @dev Rent in kind: WATT worth `shortfall` TSL at the utility price (all the account
    /// has, at most) goes to the operator and the account's lock shrinks to what is left.
    /// Returns the account's WATT after paying.
    function _payInKind(address account, address operator_, uint256 watt, uint256 shortfall) private returns (uint256) {
        uint256 wattPaid = RentIndex.wattInKind(shortfall, _reserve >> 80);
        if (wattPaid > watt) wattPaid = watt; // all it has: nothing is left owing
        // Cannot underflow: wattPaid <= watt.
        unchecked {
            watt -= wattPaid;
        }
        if (wattPaid != 0) {
            // The operator's balance stays below the supply, below 2^88: adding to the
            // low field of its word cannot carry into the free-TSL field.
            _holdings[operator_] += wattPaid;
            uint256 energy = _energy[account];
            uint256 keepWh = watt / WH;
            if (energy & _MAX_40 > keepWh) _energy[account] = (energy & ~_MAX_40) | keepWh;
            emit Transfer(account, operator_, wattPaid);
        }
        emit RentPaidInKind(account, shortfall, wattPaid);
        return watt;
    }

    /// @dev Adds to the 40-bit counter at `shift`, stopping at its ceiling (1.1 TWh) rather
    /// than reverting: a counter is informational and must never block a meter's readings.
    function _addCounter(uint256 energy, uint256 shift, uint256 amount) private pure returns (uint256) {
        // Every caller (recordFlows) passes amount < 2^40 (a register delta or a part of
        // one), so counter + amount < 2^41; sum >= counter in both branches, and
        // counter + (sum - counter) = sum <= _MAX_40 cannot carry out of the field.
        unchecked {
            uint256 counter = (energy >> shift) & _MAX_40;
            uint256 sum = counter + amount;
            if (sum > _MAX_40) sum = _MAX_40;
            return energy + ((sum - counter) << shift);
        }
    }

    /// @dev Adds to the 40-bit trade counter at `shift` (purchased at 88, sold at 128),
    /// saturating like `AccountBook.addSaturating40`; the other fields are kept.
    function _addTradeCounter(uint256 trade, uint256 shift, uint256 amount) private pure returns (uint256) {
        uint256 counter = (trade >> shift) & _MAX_40;
        uint256 sum = AccountBook.addSaturating40(counter, amount);
        // counter <= sum <= _MAX_40: the difference fits the field and cannot carry.
        return trade + ((sum - counter) << shift);
    }

    /// @dev What an export charges into the battery and what spills: nothing is stored
    /// while minting is halted; otherwise export x efficiency, limited by free capacity.
    function _charge(uint256 exportedWh, uint256 core, uint256 supply)
        private
        pure
        returns (uint256 storedWh, uint256 spilledWh)
    {
        if ((core >> 216) & 0xff != 0) return (0, exportedWh);
        uint256 efficiency = (core >> 200) & 0xffff;
        uint256 capacity = (core >> 160) & _MAX_40;
        // exportedWh < 2^40 (a register delta from the ledger) and 1 <= efficiency <= 10^4
        // (checked when set), so no product overflows and no divisor is zero; room is
        // taken only when positive; the spill cannot underflow (see below).
        unchecked {
            storedWh = exportedWh * efficiency / _BPS;
            uint256 room = capacity > supply ? capacity - supply : 0;
            if (storedWh > room) storedWh = room;
            // The energy that went into storing storedWh, rounded up: never more than
            // exportedWh, since storedWh <= exportedWh * efficiency / 10000.
            spilledWh = exportedWh - (storedWh * _BPS + efficiency - 1) / efficiency;
        }
    }

    function _requireNotPaused(uint256 core) private pure {
        if ((core >> 224) & 0xff != 0) revert EnforcedPause();
    }

    function _requireLedger(uint256 core) private view {
        if (msg.sender != address(uint160(core))) revert BatteryNotLedger(msg.sender);
    }

    function _requireWholeWh(uint256 wattAmount) private pure {
        if (wattAmount % WH != 0) revert BatteryNotWholeWh(wattAmount);
    }
}
