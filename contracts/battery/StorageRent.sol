// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {RentIndex} from "../libraries/RentIndex.sol";
import {WattToken} from "./WattToken.sol";
import {HoldingWord, EnergyWord} from "./types/AccountWords.sol";
import {RentWord, RentWordLib, ConfigWord, ReserveWord} from "./types/GlobalWords.sol";

/// @title Storage rent on a cumulative index
/// @notice Rent accrues on every WATT an account owns (locked included) and is settled
/// lazily, in O(1), whenever the account's holding is touched: from its free TSL first,
/// the rest in kind (WATT at the utility price, to the operator). See docs/ledger.md,
/// "Storage rent".
abstract contract StorageRent is WattToken {
    using SafeERC20 for IERC20;

    /// @inheritdoc ISharedBattery
    function settleRent(address account) external {
        ConfigWord config = _config;
        _holdings[account] = _settledWord(account, _accrue(config), config);
    }

    /// @inheritdoc ISharedBattery
    function claimRent() external returns (uint256 amount) {
        address operator_ = _config.operator();
        if (msg.sender != operator_) revert BatteryNotOperator(msg.sender);
        amount = _payOutRent(operator_);
    }

    /// @inheritdoc ISharedBattery
    function pendingRent(address account) public view returns (uint256 tslDue, uint256 wattDue) {
        ConfigWord config = _config;
        if (account == config.operator()) return (0, 0);
        HoldingWord h = _holdings[account];
        uint256 watt = h.watt();
        uint256 free = h.freeTsl();
        uint256 index = _currentIndex(config);
        uint256 due = RentIndex.rentDue(watt, index, h.rentCheckpoint());
        if (due <= free) return (due, 0);
        wattDue = _wattInKind(watt, h.rentCheckpoint(), index, due - free);
        return (free, wattDue < watt ? wattDue : watt);
    }

    /// @inheritdoc ISharedBattery
    function daysOfStorage(address account) external view returns (uint256 daysWad) {
        ConfigWord config = _config;
        uint256 rate = config.rentPerWattDay();
        HoldingWord h = _holdings[account];
        if (h.watt() == 0 || rate == 0 || account == config.operator()) return type(uint256).max;
        (uint256 tslDue, uint256 wattDue) = pendingRent(account);
        if (wattDue != 0) return 0;
        return RentIndex.daysCovered(h.freeTsl() - tslDue, h.watt(), rate);
    }

    /// @inheritdoc ISharedBattery
    function rentCollected() external view returns (uint256) {
        return _rent.tslCollected();
    }

    /// @inheritdoc ISharedBattery
    function rentIndex() external view returns (uint256) {
        return _currentIndex(_config);
    }

    function _payOutRent(address to) internal returns (uint256 amount) {
        RentWord word = _rent;
        amount = word.tslCollected();
        _rent = word.withoutCollected();
        if (amount != 0) TSL.safeTransfer(to, amount);
        emit RentClaimed(to, amount);
    }

    /// @inheritdoc WattToken
    function _accrue(ConfigWord config) internal override returns (uint256 index) {
        RentWord word = _rent;
        index = word.index();
        uint256 last = word.lastAccrual();
        // Accrued in this block, or frozen by the pause (lastAccrual = MAX_40).
        if (last >= block.timestamp) return index;
        index = RentIndex.accrued(index, config.rentPerWattDay(), block.timestamp - last);
        _rent = word.withAccrual(index, block.timestamp);
    }

    /// @dev The rent word with the index brought up to now, and that index; not written.
    function _accruedWord(RentWord word, ConfigWord config) internal view returns (uint256 index, RentWord updated) {
        index = word.index();
        uint256 last = word.lastAccrual();
        if (last >= block.timestamp) return (index, word); // this block's, or frozen
        index = RentIndex.accrued(index, config.rentPerWattDay(), block.timestamp - last);
        updated = word.withAccrual(index, block.timestamp);
    }

    function _currentIndex(ConfigWord config) internal view returns (uint256) {
        RentWord word = _rent;
        uint256 last = word.lastAccrual();
        if (last >= block.timestamp) return word.index(); // this block's, or frozen
        return RentIndex.accrued(word.index(), config.rentPerWattDay(), block.timestamp - last);
    }

    /// @inheritdoc WattToken
    /// @dev Rent in kind is applied here in full: WATT to the operator, the account's lock
    /// shrunk to what is left.
    function _settledWord(address account, uint256 index, ConfigWord config)
        internal
        override
        returns (HoldingWord holding)
    {
        holding = _holdings[account];
        uint256 checkpoint = holding.rentCheckpoint();
        if (checkpoint == index) return holding;
        holding = holding.withCheckpoint(index);
        address operator_ = config.operator();
        if (account == operator_) return holding; // the operator is rent-exempt
        uint256 watt = holding.watt();
        uint256 due = RentIndex.rentDue(watt, index, checkpoint);
        if (due == 0) return holding;
        uint256 free = holding.freeTsl();
        if (due <= free) {
            // Collected rent is at most the TSL supply, below its 96 bits (7.9e28).
            _rent = RentWord.wrap(RentWord.unwrap(_rent) + (due << RentWordLib.COLLECTED_OFFSET));
            // due <= free: the subtraction stays inside the free-TSL field.
            return holding.subFreeTsl(due);
        }
        _rent = RentWord.wrap(RentWord.unwrap(_rent) + (free << RentWordLib.COLLECTED_OFFSET));
        // free < due here. Free TSL is taken whole and becomes zero; the rest is paid in kind.
        holding = holding.withLow(_payInKind(account, operator_, watt, due - free, checkpoint, index));
    }

    /// @dev `_settledWord` (the same steps, kept in step with it) without the write of the
    /// rent word, for recordFlows: returns the TSL collected from the account's free
    /// deposit, which the caller adds to `tslCollected`. Rent in kind (the operator's WATT,
    /// the account's lock) is written here.
    function _settleCore(address account, uint256 index, ConfigWord config)
        internal
        returns (HoldingWord holding, uint256 collected)
    {
        holding = _holdings[account];
        uint256 checkpoint = holding.rentCheckpoint();
        if (checkpoint == index) return (holding, 0);
        holding = holding.withCheckpoint(index);
        address operator_ = config.operator();
        if (account == operator_) return (holding, 0); // the operator is rent-exempt
        uint256 watt = holding.watt();
        uint256 due = RentIndex.rentDue(watt, index, checkpoint);
        if (due == 0) return (holding, 0);
        uint256 free = holding.freeTsl();
        if (due <= free) {
            // due <= free: the subtraction stays inside the free-TSL field.
            return (holding.subFreeTsl(due), due);
        }
        // free < due here. Free TSL is taken whole and becomes zero; the rest is paid in kind.
        holding = holding.withLow(_payInKind(account, operator_, watt, due - free, checkpoint, index));
        return (holding, free);
    }

    /// @dev Rent in kind: WATT worth `shortfall` TSL at the utility price (all the account
    /// has, at most) goes to the operator and the account's lock shrinks to what is left.
    /// Returns the account's WATT after paying.
    function _payInKind(
        address account,
        address operator_,
        uint256 watt,
        uint256 shortfall,
        uint256 checkpoint,
        uint256 index
    ) internal returns (uint256) {
        uint256 wattPaid = _wattInKind(watt, checkpoint, index, shortfall);
        if (wattPaid > watt) wattPaid = watt; // all it has: nothing is left owing
        // Cannot underflow: wattPaid <= watt.
        unchecked {
            watt -= wattPaid;
        }
        if (wattPaid != 0) {
            // The operator's balance stays below the supply, below 2^88: adding to the
            // low field of its word cannot carry into the free-TSL field.
            _holdings[operator_] = _holdings[operator_].addWatt(wattPaid);
            EnergyWord energy = _energy[account];
            uint256 keepWh = watt / WH;
            if (energy.lockedWh() > keepWh) _energy[account] = energy.withLockedWh(keepWh);
            _update(account, operator_, wattPaid);
        }
        emit RentPaidInKind(account, shortfall, wattPaid);
        return watt;
    }

    /// @dev WATT worth `shortfall` TSL of the rent `watt` owed from index `checkpoint` to
    /// `index`, each part at the price in force when it accrued. Free TSL pays the oldest
    /// rent first, so the shortfall is the rent of the latest index range, down to `from`.
    /// With one price over that range (the usual case) this is shortfall / price.
    function _wattInKind(uint256 watt, uint256 checkpoint, uint256 index, uint256 shortfall)
        internal
        view
        returns (uint256)
    {
        ReserveWord reserve = _reserve;
        uint256 price = reserve.utilityPrice();
        uint256 since = reserve.priceIndex();
        if (checkpoint >= since) return RentIndex.wattInKind(shortfall, price);
        // index - from: the index range whose rent is the shortfall, rounded up (more WATT).
        uint256 range = Math.ceilDiv(shortfall * RentIndex.WATT, watt);
        uint256 from = range < index - checkpoint ? index - range : checkpoint;
        if (from >= since) return RentIndex.wattInKind(shortfall, price);
        uint256 last = _priceSegments.length - 1;
        uint256 kindNow = _priceSegments[last].kindAtStart + Math.ceilDiv((index - since) * RentIndex.WATT, price);
        return Math.ceilDiv(watt * (kindNow - _kindAt(from, last)), RentIndex.WATT);
    }

    /// @dev The in-kind index (see PriceSegment.kindAtStart) at rent index `at`, inside a
    /// period before the current one (`last`): a binary search over the periods, rounded down.
    function _kindAt(uint256 at, uint256 last) private view returns (uint256) {
        uint256 low = 0;
        uint256 high = last; // the period holding `at` is below `last`
        while (high - low > 1) {
            uint256 mid = (low + high) / 2;
            if (_priceSegments[mid].startIndex <= at) low = mid;
            else high = mid;
        }
        PriceSegment storage segment = _priceSegments[low];
        return segment.kindAtStart + (at - segment.startIndex) * RentIndex.WATT / segment.price;
    }
}
