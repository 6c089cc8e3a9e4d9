// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// A test double never deployed by the app: an ERC-20 with any name, symbol and decimals, which
// anyone may mint. The wallet must show a bounty's real token (its symbol and decimals) and
// mark one the network does not list, such as a look-alike calling itself "QDT".

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Any name, symbol and decimals; free minting (tests only).
contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
