// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Quarry bounty board
/// @notice Practitioners post bounties with the whole reward in escrow; data owners submit the
/// hash and URI of an encrypted model update per round; the practitioner finalises each round
/// with per-contributor amounts, or, if they do not within the grace period, anyone expires the
/// round and its reward is split equally among its submitters. Rewards are pulled with `claim`.
/// @dev Every state-changing function is nonReentrant and follows checks-effects-interactions;
/// token transfers happen only in `createBounty` (pull in) and `claim` (pay out).
contract BountyBoard is ReentrancyGuard, EIP712 {
    using SafeERC20 for IERC20;

    enum Status {
        Open,
        Completed,
        Cancelled
    }

    enum RoundState {
        NotOpen,
        Open,
        Finalized,
        Expired,
        Cancelled
    }

    struct Bounty {
        address owner;
        uint32 rounds;
        uint32 currentRound;
        uint32 maxContributors;
        Status status;
        IERC20 token;
        uint64 roundDuration;
        uint256 rewardPerRound;
        uint256 escrow;
        bytes32 specHash;
        string specURI;
    }

    struct Submission {
        bytes32 blobHash;
        uint64 submittedAt;
        bool rewarded; // set while finalising: rejects a contributor listed twice
        string uri;
    }

    struct Round {
        uint64 deadline;
        RoundState state;
        bytes32 modelHash;
        bytes32 reportHash;
        string modelURI;
        string reportURI;
        address[] submitters;
        mapping(address contributor => Submission) submissions;
    }

    /// @notice Bounds that keep every loop and every timestamp sum far from gas and type limits.
    uint32 public constant MAX_CONTRIBUTORS = 256;
    uint32 public constant MAX_ROUNDS = 10_000;
    uint64 public constant MAX_DURATION = 3650 days;

    bytes32 public constant SUBMISSION_TYPEHASH = keccak256(
        "Submission(uint256 bountyId,uint32 round,bytes32 blobHash,string uri,address contributor,uint256 deadline)"
    );

    /// @notice Seconds after a round's deadline during which only the bounty owner may finalise.
    uint64 public immutable gracePeriod;

    uint256 private _bountyCount;
    mapping(uint256 bountyId => Bounty) private _bounties;
    mapping(uint256 bountyId => mapping(uint32 round => Round)) private _rounds;

    /// @notice Rewards and refunds credited but not yet paid out, per token and account.
    mapping(address token => mapping(address account => uint256)) public claimable;

    event BountyCreated(
        uint256 indexed bountyId,
        address indexed owner,
        address token,
        uint256 rewardPerRound,
        uint32 rounds,
        bytes32 specHash,
        string specURI
    );
    event RoundOpened(uint256 indexed bountyId, uint32 round, uint64 deadline, bytes32 modelHash, string modelURI);
    event UpdateSubmitted(
        uint256 indexed bountyId, uint32 indexed round, address indexed contributor, bytes32 blobHash, string uri
    );
    event RoundFinalized(
        uint256 indexed bountyId, uint32 indexed round, uint256 totalPaid, bytes32 reportHash, string reportURI
    );
    event RoundExpired(uint256 indexed bountyId, uint32 indexed round, uint256 perSubmitter);
    event RewardAssigned(uint256 indexed bountyId, uint32 indexed round, address indexed contributor, uint256 amount);
    event BountyCancelled(uint256 indexed bountyId, uint256 refunded);
    event RewardClaimed(address indexed account, address indexed token, uint256 amount);

    error NotOwner();
    error RoundNotOpen();
    error AlreadySubmitted();
    error DeadlineNotReached();
    error GracePeriodOver();
    error GracePeriodNotOver();
    error NotASubmitter(address contributor);
    error DuplicateContributor(address contributor);
    error OverBudget();
    error BadSignature();
    error SignatureExpired();
    error NothingToClaim();
    error InvalidParameters();
    error BountyNotOpen();
    error RoundNotCurrent();
    error AlreadyClosed();
    error BountyNotFound();
    error NoSuchRound();
    error RoundFull();
    error LengthMismatch();
    error UnsupportedToken();

    constructor(uint64 gracePeriod_) EIP712("QuarryBountyBoard", "1") {
        if (gracePeriod_ == 0 || gracePeriod_ > MAX_DURATION) revert InvalidParameters();
        gracePeriod = gracePeriod_;
    }

    // ------------------------------------------------------------------ practitioner

    /// @notice Posts a bounty and pulls `rewardPerRound * rounds` of `token` into escrow
    /// (approve this contract first). Round 0 opens now. Returns the new id (ids start at 1).
    function createBounty(
        address token,
        uint256 rewardPerRound,
        uint32 rounds,
        uint64 roundDuration,
        uint32 maxContributors,
        bytes32 specHash,
        string calldata specURI,
        bytes32 modelHash,
        string calldata modelURI
    ) external nonReentrant returns (uint256 bountyId) {
        if (token.code.length == 0) revert UnsupportedToken();
        if (
            rewardPerRound == 0 || rounds == 0 || rounds > MAX_ROUNDS || roundDuration == 0
                || roundDuration > MAX_DURATION || maxContributors == 0 || maxContributors > MAX_CONTRIBUTORS
                || specHash == bytes32(0) || rewardPerRound > type(uint256).max / rounds
        ) revert InvalidParameters();
        uint256 total = rewardPerRound * rounds;

        bountyId = ++_bountyCount;
        Bounty storage b = _bounties[bountyId];
        b.owner = msg.sender;
        b.rounds = rounds;
        b.maxContributors = maxContributors;
        b.token = IERC20(token);
        b.roundDuration = roundDuration;
        b.rewardPerRound = rewardPerRound;
        b.escrow = total;
        b.specHash = specHash;
        b.specURI = specURI;
        emit BountyCreated(bountyId, msg.sender, token, rewardPerRound, rounds, specHash, specURI);
        _openRound(bountyId, b, 0, modelHash, modelURI);

        // Interaction last. Fee-on-transfer or rebasing tokens would break the escrow accounting,
        // so the board must receive exactly `total`.
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), total);
        if (IERC20(token).balanceOf(address(this)) != balanceBefore + total) revert UnsupportedToken();
    }

    /// @notice Closes `round` with the practitioner's payout: each listed contributor must have
    /// submitted to the round, at most once; the amounts sum to at most the round's reward and the
    /// rest returns to the owner. Opens the next round training from `nextModelHash`/`nextModelURI`.
    function finalize(
        uint256 bountyId,
        uint32 round,
        address[] calldata contributors,
        uint256[] calldata amounts,
        bytes32 nextModelHash,
        string calldata nextModelURI,
        bytes32 reportHash,
        string calldata reportURI
    ) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        if (msg.sender != b.owner) revert NotOwner();
        Round storage r = _closableRound(b, bountyId, round);
        if (block.timestamp < r.deadline) revert DeadlineNotReached();
        if (block.timestamp >= uint256(r.deadline) + gracePeriod) revert GracePeriodOver();
        if (contributors.length != amounts.length) revert LengthMismatch();

        address tokenAddress = address(b.token);
        uint256 remaining = b.rewardPerRound;
        for (uint256 i = 0; i < contributors.length; ++i) {
            address contributor = contributors[i];
            Submission storage s = r.submissions[contributor];
            if (s.submittedAt == 0) revert NotASubmitter(contributor);
            if (s.rewarded) revert DuplicateContributor(contributor);
            s.rewarded = true;
            uint256 amount = amounts[i];
            if (amount > remaining) revert OverBudget();
            remaining -= amount;
            claimable[tokenAddress][contributor] += amount;
            emit RewardAssigned(bountyId, round, contributor, amount);
        }
        if (remaining != 0) claimable[tokenAddress][b.owner] += remaining;
        b.escrow -= b.rewardPerRound;
        r.state = RoundState.Finalized;
        r.reportHash = reportHash;
        r.reportURI = reportURI;
        emit RoundFinalized(bountyId, round, b.rewardPerRound - remaining, reportHash, reportURI);
        _advance(bountyId, b, nextModelHash, nextModelURI);
    }

    /// @notice Withdraws every round not yet opened, and the current round too if nobody has
    /// submitted to it, to the owner's claimable balance. A current round with submissions
    /// still closes normally (finalize or expire) and is the bounty's last.
    function cancel(uint256 bountyId) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        if (msg.sender != b.owner) revert NotOwner();
        if (b.status != Status.Open) revert BountyNotOpen();

        uint32 current = b.currentRound;
        uint256 refundedRounds = b.rounds - current - 1;
        Round storage r = _rounds[bountyId][current];
        if (r.submitters.length == 0) {
            r.state = RoundState.Cancelled;
            refundedRounds += 1;
        }
        uint256 refunded = refundedRounds * b.rewardPerRound;
        b.status = Status.Cancelled;
        b.escrow -= refunded;
        claimable[address(b.token)][b.owner] += refunded;
        emit BountyCancelled(bountyId, refunded);
    }

    // ------------------------------------------------------------------ data owners

    /// @notice Submits the hash and URI of an encrypted update to the current, open round.
    function submit(uint256 bountyId, uint32 round, bytes32 blobHash, string calldata uri) external nonReentrant {
        _submit(bountyId, round, blobHash, uri, msg.sender);
    }

    /// @notice Gasless submission: `contributor` signed the EIP-712 `Submission`, anyone relays it.
    /// One submission per address and round makes a replay revert with `AlreadySubmitted`.
    function submitWithSignature(
        uint256 bountyId,
        uint32 round,
        bytes32 blobHash,
        string calldata uri,
        address contributor,
        uint256 deadline,
        bytes calldata signature
    ) external nonReentrant {
        if (block.timestamp > deadline) revert SignatureExpired();
        if (contributor == address(0)) revert BadSignature();
        bytes32 structHash = keccak256(
            abi.encode(SUBMISSION_TYPEHASH, bountyId, round, blobHash, keccak256(bytes(uri)), contributor, deadline)
        );
        // SignatureChecker accepts EOA signatures (ECDSA, malleability-checked) and ERC-1271 wallets.
        if (!SignatureChecker.isValidSignatureNow(contributor, _hashTypedDataV4(structHash), signature)) {
            revert BadSignature();
        }
        _submit(bountyId, round, blobHash, uri, contributor);
    }

    // ------------------------------------------------------------------ anyone

    /// @notice After the grace period of an unfinalised round, splits its reward equally among its
    /// submitters (the division's dust, or everything if nobody submitted, goes to the owner).
    function expireRound(uint256 bountyId, uint32 round) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        Round storage r = _closableRound(b, bountyId, round);
        if (block.timestamp < uint256(r.deadline) + gracePeriod) revert GracePeriodNotOver();

        address tokenAddress = address(b.token);
        uint256 reward = b.rewardPerRound;
        uint256 count = r.submitters.length;
        uint256 perSubmitter = count == 0 ? 0 : reward / count;
        for (uint256 i = 0; i < count; ++i) {
            address contributor = r.submitters[i];
            claimable[tokenAddress][contributor] += perSubmitter;
            emit RewardAssigned(bountyId, round, contributor, perSubmitter);
        }
        claimable[tokenAddress][b.owner] += reward - perSubmitter * count;
        b.escrow -= reward;
        r.state = RoundState.Expired;
        emit RoundExpired(bountyId, round, perSubmitter);
        _advance(bountyId, b, r.modelHash, r.modelURI);
    }

    /// @notice Pays the caller everything credited to them in `token`; returns the amount.
    function claim(address token) external nonReentrant returns (uint256 amount) {
        amount = claimable[token][msg.sender];
        if (amount == 0) revert NothingToClaim();
        claimable[token][msg.sender] = 0;
        emit RewardClaimed(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function bountyCount() external view returns (uint256) {
        return _bountyCount;
    }

    /// @notice `escrow` is the reward not yet assigned to anyone (contributors or owner refunds).
    function getBounty(uint256 id)
        external
        view
        returns (
            address owner,
            address token,
            uint256 rewardPerRound,
            uint32 rounds,
            uint64 roundDuration,
            uint32 maxContributors,
            bytes32 specHash,
            string memory specURI,
            uint32 currentRound,
            uint8 status,
            uint256 escrow
        )
    {
        Bounty storage b = _existingBounty(id);
        return (
            b.owner,
            address(b.token),
            b.rewardPerRound,
            b.rounds,
            b.roundDuration,
            b.maxContributors,
            b.specHash,
            b.specURI,
            b.currentRound,
            uint8(b.status),
            b.escrow
        );
    }

    /// @notice `modelHash`/`modelURI` are the model this round trains from. Rounds that a
    /// cancellation withdrew report state Cancelled.
    function getRound(uint256 id, uint32 round)
        external
        view
        returns (
            uint64 deadline,
            uint32 submissions,
            uint8 state,
            bytes32 modelHash,
            string memory modelURI,
            bytes32 reportHash,
            string memory reportURI
        )
    {
        Bounty storage b = _existingBounty(id);
        if (round >= b.rounds) revert NoSuchRound();
        Round storage r = _rounds[id][round];
        RoundState roundState = r.state;
        if (b.status == Status.Cancelled && round > b.currentRound) roundState = RoundState.Cancelled;
        return (
            r.deadline,
            uint32(r.submitters.length),
            uint8(roundState),
            r.modelHash,
            r.modelURI,
            r.reportHash,
            r.reportURI
        );
    }

    function getSubmission(uint256 id, uint32 round, address contributor)
        external
        view
        returns (bytes32 blobHash, string memory uri, uint64 submittedAt)
    {
        _existingBounty(id);
        Submission storage s = _rounds[id][round].submissions[contributor];
        return (s.blobHash, s.uri, s.submittedAt);
    }

    /// @notice The round's submitters in submission order.
    function getSubmitters(uint256 id, uint32 round) external view returns (address[] memory) {
        _existingBounty(id);
        return _rounds[id][round].submitters;
    }

    /// @notice The EIP-712 domain separator that `submitWithSignature` signatures commit to.
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    function _existingBounty(uint256 id) private view returns (Bounty storage b) {
        if (id == 0 || id > _bountyCount) revert BountyNotFound();
        return _bounties[id];
    }

    /// @dev The checks shared by finalize and expire: `round` is the current round and still open.
    function _closableRound(Bounty storage b, uint256 bountyId, uint32 round) private view returns (Round storage r) {
        if (round > b.currentRound) revert RoundNotCurrent();
        if (round < b.currentRound) revert AlreadyClosed();
        r = _rounds[bountyId][round];
        if (r.state != RoundState.Open) revert AlreadyClosed();
    }

    function _submit(uint256 bountyId, uint32 round, bytes32 blobHash, string calldata uri, address contributor)
        private
    {
        Bounty storage b = _existingBounty(bountyId);
        if (b.status != Status.Open) revert BountyNotOpen();
        if (round != b.currentRound) revert RoundNotCurrent();
        Round storage r = _rounds[bountyId][round];
        if (r.state != RoundState.Open || block.timestamp >= r.deadline) revert RoundNotOpen();
        Submission storage s = r.submissions[contributor];
        if (s.submittedAt != 0) revert AlreadySubmitted();
        if (r.submitters.length >= b.maxContributors) revert RoundFull();
        if (blobHash == bytes32(0) || bytes(uri).length == 0) revert InvalidParameters();

        s.blobHash = blobHash;
        s.submittedAt = uint64(block.timestamp);
        s.uri = uri;
        r.submitters.push(contributor);
        emit UpdateSubmitted(bountyId, round, contributor, blobHash, uri);
    }

    function _openRound(uint256 bountyId, Bounty storage b, uint32 round, bytes32 modelHash, string memory modelURI)
        private
    {
        Round storage r = _rounds[bountyId][round];
        uint64 deadline = uint64(block.timestamp) + b.roundDuration;
        r.deadline = deadline;
        r.state = RoundState.Open;
        r.modelHash = modelHash;
        r.modelURI = modelURI;
        emit RoundOpened(bountyId, round, deadline, modelHash, modelURI);
    }

    /// @dev After the current round closed: open the next one, or end the bounty. A cancelled
    /// bounty's closing round is its last and the bounty stays Cancelled.
    function _advance(uint256 bountyId, Bounty storage b, bytes32 modelHash, string memory modelURI) private {
        if (b.status == Status.Cancelled) return;
        uint32 next = b.currentRound + 1;
        if (next >= b.rounds) {
            b.status = Status.Completed;
            return;
        }
        b.currentRound = next;
        _openRound(bountyId, b, next, modelHash, modelURI);
    }
}
