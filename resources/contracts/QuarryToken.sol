// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Quarry Data Token (QDT)
/// @notice The reward token of Quarry's bounties: a plain ERC-20 with 18 decimals whose owner
/// (the devnet faucet, or whoever deployed it) may mint.
contract QuarryToken is ERC20, Ownable {
    constructor(address initialOwner) ERC20("Quarry Data Token", "QDT") Ownable(initialOwner) {}

    /// @notice Creates `amount` new tokens for `to`; only the owner may mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
