// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title Quarry bounty board
/// @notice Practitioners post bounties with the whole reward in escrow; data owners submit the
/// hash and URI of an encrypted model update per round; the practitioner finalises each round
/// with per-contributor amounts (in batches if many), or, if they do not within the grace period,
/// anyone expires the round and its pot is split equally among its submitters. Once a round has
/// a submission its reward never returns to the practitioner: what finalisation leaves unassigned
/// is carried into the next round's pot, and at the bounty's end shared by those it paid.
/// Rewards are pulled with `claim`.
/// @dev Every state-changing function is nonReentrant and follows checks-effects-interactions;
/// token transfers happen only in `createBounty` (pull in) and `claim` (pay out). No function
/// loops over a round's submitters: payouts come in caller-sized batches, expiry shares and
/// the end-of-bounty leftover are pulled one account at a time.
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
        bool ended; // the last round (or a cancelled bounty's closing round) has closed
        IERC20 token;
        uint64 roundDuration;
        uint256 rewardPerRound;
        // Every token of this bounty still on the board and not yet credited to an account:
        // unclosed rounds, the carry, uncollected expiry shares and unclaimed leftover.
        uint256 escrow;
        // Unassigned pot of closed rounds that had submissions (and expiry dust): part of the
        // current round's pot, never refunded; becomes `leftover` when the bounty ends.
        uint256 carry;
        uint256 leftover; // the carry at the end, shared by `claimLeftover`
        uint256 totalPaid; // sum of what finalisation assigned in this bounty
        uint256 totalCredit; // sum of the leftover credits (`assignCredits`, in the closing round)
        uint256 submissionCount; // sum of closed rounds' submitters (added at close: cheaper than per submit)
        bytes32 specHash;
        string specURI;
        bytes32 revealHash;
        string revealURI;
    }

    struct Submission {
        bytes32 blobHash;
        uint64 submittedAt;
        bool rewarded; // set while finalising: rejects a contributor listed twice
        bool collected; // its expiry share was credited
        string uri;
    }

    struct Round {
        uint64 deadline;
        RoundState state;
        bytes32 modelHash;
        bytes32 reportHash;
        uint256 assigned; // assigned by finalisation batches so far
        uint256 perSubmitter; // an expired round's share for each submitter
        string modelURI;
        string reportURI;
        address[] submitters;
        mapping(address contributor => Submission) submissions;
        mapping(bytes32 blobHash => bool) blobs; // hashes already submitted: copies are refused
    }

    /// @notice What one account received in one bounty, for the pro-rata leftover.
    struct Share {
        uint256 paid; // assigned to it by finalisation
        uint32 rounds; // rounds it submitted to
        uint256 leftoverPaid; // its leftover share, once credited (never 0 then)
        uint256 credit; // its leftover credit (`assignCredits`)
        bool credited; // its leftover credit was recorded (once per bounty)
    }

    /// @notice Bounds that keep every loop and every timestamp sum far from gas and type limits.
    /// No loop runs over a round's submitters, so the cap only bounds storage per round.
    uint32 public constant MAX_CONTRIBUTORS = 10_000;
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
    mapping(uint256 bountyId => mapping(address account => Share)) private _shares;

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
    event BountyEnded(uint256 indexed bountyId, uint256 leftover);
    event LeftoverClaimed(uint256 indexed bountyId, address indexed account, uint256 amount);
    event CreditAssigned(uint256 indexed bountyId, uint32 indexed round, address indexed contributor, uint256 credit);
    event ValidationRevealed(uint256 indexed bountyId, bytes32 dataHash, string uri);

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
    error DuplicateBlob();
    error NotExpired();
    error AlreadyCollected();
    error BountyNotEnded();
    error AlreadyRevealed();
    error DuplicateCredit(address contributor);
    error NotClosingRound();
    error NotABountySubmitter(address contributor);

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

    /// @notice One batch of a round's payout, for rounds with more contributors than fit in one
    /// transaction: each listed contributor must have submitted to the round and be listed at
    /// most once over all batches; all batches together stay within the round's pot
    /// (`getPot`). Only the owner, between the round's deadline and the end of the grace period.
    function assignRewards(
        uint256 bountyId,
        uint32 round,
        address[] calldata contributors,
        uint256[] calldata amounts
    ) external nonReentrant {
        (Bounty storage b, Round storage r) = _finalizableRound(bountyId, round);
        _assign(bountyId, b, r, round, contributors, amounts);
    }

    /// @notice The leftover's shares: what the rounds left unassigned is shared in proportion
    /// to these credits (`claimLeftover`), measured over the whole bounty (docs/PROTOCOL.md, "A
    /// bounty's leftover"): each account's value pooled over its rounds, at its lower
    /// confidence bound, so evidence too thin for one round can count over several. Only the
    /// owner, in the closing round's finalise window (the last round, or a cancelled bounty's
    /// current one) before `finalize`; each listed account submitted to the bounty, once per
    /// bounty, at most the bounty's whole reward. Without credits the leftover is shared by pay,
    /// and when nobody was paid equally per submission.
    function assignCredits(
        uint256 bountyId,
        uint32 round,
        address[] calldata contributors,
        uint256[] calldata credits
    ) external nonReentrant {
        (Bounty storage b,) = _finalizableRound(bountyId, round);
        if (b.status != Status.Cancelled && round + 1 < b.rounds) revert NotClosingRound();
        if (contributors.length != credits.length) revert LengthMismatch();
        uint256 bound = b.rewardPerRound * b.rounds;
        uint256 total = 0;
        for (uint256 i = 0; i < contributors.length; ++i) {
            address contributor = contributors[i];
            Share storage share = _shares[bountyId][contributor];
            if (share.rounds == 0) revert NotABountySubmitter(contributor);
            if (share.credited) revert DuplicateCredit(contributor);
            uint256 credit = credits[i];
            if (credit > bound) revert OverBudget();
            share.credited = true;
            share.credit = credit;
            total += credit;
            emit CreditAssigned(bountyId, round, contributor, credit);
        }
        b.totalCredit += total;
    }

    /// @notice Closes `round` with the last batch of the practitioner's payout (see
    /// `assignRewards`). What the round's pot does not assign stays with the bounty's
    /// contributors: it is carried into the next round's pot, or after the last round shared by
    /// the leftover credits (`assignCredits`; else by pay; `claimLeftover`). Only a round nobody submitted to returns its own
    /// reward to the owner. Opens the next round training from `nextModelHash`/`nextModelURI`.
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
        (Bounty storage b, Round storage r) = _finalizableRound(bountyId, round);
        _assign(bountyId, b, r, round, contributors, amounts);
        uint256 assigned = r.assigned;
        if (r.submitters.length == 0) {
            _refundRound(b);
        } else {
            b.carry = b.carry + b.rewardPerRound - assigned;
        }
        r.state = RoundState.Finalized;
        r.reportHash = reportHash;
        r.reportURI = reportURI;
        emit RoundFinalized(bountyId, round, assigned, reportHash, reportURI);
        _advance(bountyId, b, nextModelHash, nextModelURI);
    }

    /// @notice Withdraws every round not yet opened to the owner's claimable balance. The
    /// current round is not withdrawn: it keeps accepting submissions until its deadline and
    /// closes by finalize or expireRound (returning its reward to the owner only if nobody
    /// submitted); no further round opens. A cancel cannot race a first submission.
    function cancel(uint256 bountyId) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        if (msg.sender != b.owner) revert NotOwner();
        if (b.status != Status.Open) revert BountyNotOpen();

        uint256 refunded = uint256(b.rounds - b.currentRound - 1) * b.rewardPerRound;
        b.status = Status.Cancelled;
        b.escrow -= refunded;
        claimable[address(b.token)][b.owner] += refunded;
        emit BountyCancelled(bountyId, refunded);
    }

    /// @notice Publishes the validation set the spec committed to (its blob's keccak256 and
    /// URI), so every contributor can check its pay. Only the owner, once, after the bounty
    /// ended (its last round, or a cancelled bounty's closing round, closed).
    function revealValidation(uint256 bountyId, bytes32 dataHash, string calldata uri) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        if (msg.sender != b.owner) revert NotOwner();
        if (!b.ended) revert BountyNotEnded();
        if (b.revealHash != bytes32(0)) revert AlreadyRevealed();
        if (dataHash == bytes32(0) || bytes(uri).length == 0) revert InvalidParameters();
        b.revealHash = dataHash;
        b.revealURI = uri;
        emit ValidationRevealed(bountyId, dataHash, uri);
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

    /// @notice After the grace period of an unfinalised round, splits what its pot has not
    /// assigned equally among its submitters, each share credited by `collectExpired`; the
    /// division's dust is carried. A round nobody submitted to returns its reward to the owner.
    function expireRound(uint256 bountyId, uint32 round) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        Round storage r = _closableRound(b, bountyId, round);
        if (block.timestamp < uint256(r.deadline) + gracePeriod) revert GracePeriodNotOver();

        uint256 count = r.submitters.length;
        uint256 perSubmitter = 0;
        if (count == 0) {
            _refundRound(b);
        } else {
            uint256 remaining = b.carry + b.rewardPerRound - r.assigned;
            perSubmitter = remaining / count;
            r.perSubmitter = perSubmitter;
            b.carry = remaining - perSubmitter * count;
        }
        r.state = RoundState.Expired;
        emit RoundExpired(bountyId, round, perSubmitter);
        _advance(bountyId, b, r.modelHash, r.modelURI);
    }

    /// @notice Credits `contributor`'s equal share of an expired round (anyone may call it for
    /// anyone; once per submitter). The wallet calls it before `claim`.
    function collectExpired(uint256 bountyId, uint32 round, address contributor) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        Round storage r = _rounds[bountyId][round];
        if (r.state != RoundState.Expired) revert NotExpired();
        Submission storage s = r.submissions[contributor];
        if (s.submittedAt == 0) revert NotASubmitter(contributor);
        if (s.collected) revert AlreadyCollected();
        s.collected = true;
        uint256 amount = r.perSubmitter;
        b.escrow -= amount;
        claimable[address(b.token)][contributor] += amount;
        emit RewardAssigned(bountyId, round, contributor, amount);
    }

    /// @notice Credits `account`'s share of an ended bounty's leftover (anyone may call it for
    /// anyone; once per account): pro rata to what finalisation paid it in the bounty; if the
    /// bounty paid nobody, to its credits (`assignCredits`); if nobody has a credit either, to
    /// the number of rounds it submitted to.
    function claimLeftover(uint256 bountyId, address account) external nonReentrant {
        Bounty storage b = _existingBounty(bountyId);
        if (!b.ended) revert BountyNotEnded();
        Share storage share = _shares[bountyId][account];
        if (share.leftoverPaid != 0) revert AlreadyCollected();
        uint256 amount = _leftoverShare(b, share);
        if (amount == 0) revert NothingToClaim();
        share.leftoverPaid = amount;
        b.escrow -= amount;
        claimable[address(b.token)][account] += amount;
        emit LeftoverClaimed(bountyId, account, amount);
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

    /// @notice `escrow` is every token of the bounty still on the board and not yet credited to
    /// an account (unclosed rounds, the carry, uncollected expiry shares, unclaimed leftover).
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

    /// @notice The bounty's payout state: `pot` of the current round (its reward plus the
    /// carry; 0 once the bounty ended) and what batches already `assigned` from it; the `carry`;
    /// the `leftover` shared at the end; `totalPaid` by finalisation; whether it `ended`.
    function getPot(uint256 id)
        external
        view
        returns (uint256 pot, uint256 assigned, uint256 carry, uint256 leftover, uint256 totalPaid, bool ended)
    {
        Bounty storage b = _existingBounty(id);
        if (!b.ended) {
            pot = b.rewardPerRound + b.carry;
            assigned = _rounds[id][b.currentRound].assigned;
        }
        return (pot, assigned, b.carry, b.leftover, b.totalPaid, b.ended);
    }

    /// @notice The expiry share `collectExpired` would credit to `account` now (0 if none).
    function expiredShare(uint256 id, uint32 round, address account) external view returns (uint256) {
        _existingBounty(id);
        Round storage r = _rounds[id][round];
        Submission storage s = r.submissions[account];
        if (r.state != RoundState.Expired || s.submittedAt == 0 || s.collected) return 0;
        return r.perSubmitter;
    }

    /// @notice The leftover share `claimLeftover` would credit to `account` now (0 if none).
    function leftoverShare(uint256 id, address account) external view returns (uint256) {
        Bounty storage b = _existingBounty(id);
        Share storage share = _shares[id][account];
        if (!b.ended || share.leftoverPaid != 0) return 0;
        return _leftoverShare(b, share);
    }

    /// @notice What finalisation paid `account` in the bounty, how many rounds it submitted to,
    /// and the leftover share credited to it (0 until `claimLeftover`).
    function getShare(uint256 id, address account)
        external
        view
        returns (uint256 paid, uint32 rounds, uint256 leftoverPaid)
    {
        _existingBounty(id);
        Share storage share = _shares[id][account];
        return (share.paid, share.rounds, share.leftoverPaid);
    }

    /// @notice `account`'s credits in the bounty (`assignCredits`) and the bounty's total.
    function getCredit(uint256 id, address account) external view returns (uint256 credit, uint256 totalCredit) {
        Bounty storage b = _existingBounty(id);
        return (_shares[id][account].credit, b.totalCredit);
    }

    /// @notice The revealed validation set (zero hash and "" until revealed).
    function getReveal(uint256 id) external view returns (bytes32 dataHash, string memory uri) {
        Bounty storage b = _existingBounty(id);
        return (b.revealHash, b.revealURI);
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
        uint32 current = b.currentRound;
        Round storage r = _rounds[bountyId][current];
        // a cancelled bounty's current round stays open until its deadline
        if (b.status == Status.Completed || (b.status == Status.Cancelled && r.state != RoundState.Open)) {
            revert BountyNotOpen();
        }
        if (round != current) revert RoundNotCurrent();
        if (r.state != RoundState.Open || block.timestamp >= r.deadline) revert RoundNotOpen();
        Submission storage s = r.submissions[contributor];
        if (s.submittedAt != 0) revert AlreadySubmitted();
        if (r.submitters.length >= b.maxContributors) revert RoundFull();
        if (blobHash == bytes32(0) || bytes(uri).length == 0) revert InvalidParameters();
        if (r.blobs[blobHash]) revert DuplicateBlob();

        r.blobs[blobHash] = true;
        s.blobHash = blobHash;
        s.submittedAt = uint64(block.timestamp);
        s.uri = uri;
        r.submitters.push(contributor);
        _shares[bountyId][contributor].rounds += 1;
        emit UpdateSubmitted(bountyId, round, contributor, blobHash, uri);
    }

    /// @dev The checks of assignRewards and finalize: the owner, the current open round, in
    /// the finalise window.
    function _finalizableRound(uint256 bountyId, uint32 round) private view returns (Bounty storage b, Round storage r) {
        b = _existingBounty(bountyId);
        if (msg.sender != b.owner) revert NotOwner();
        r = _closableRound(b, bountyId, round);
        if (block.timestamp < r.deadline) revert DeadlineNotReached();
        if (block.timestamp >= uint256(r.deadline) + gracePeriod) revert GracePeriodOver();
    }

    /// @dev Credits one batch; the loop is bounded by the caller's list, not by the round.
    function _assign(
        uint256 bountyId,
        Bounty storage b,
        Round storage r,
        uint32 round,
        address[] calldata contributors,
        uint256[] calldata amounts
    ) private {
        if (contributors.length != amounts.length) revert LengthMismatch();
        address tokenAddress = address(b.token);
        uint256 remaining = b.rewardPerRound + b.carry - r.assigned;
        uint256 total = 0;
        for (uint256 i = 0; i < contributors.length; ++i) {
            address contributor = contributors[i];
            Submission storage s = r.submissions[contributor];
            if (s.submittedAt == 0) revert NotASubmitter(contributor);
            if (s.rewarded) revert DuplicateContributor(contributor);
            s.rewarded = true;
            uint256 amount = amounts[i];
            if (amount > remaining) revert OverBudget();
            remaining -= amount;
            total += amount;
            claimable[tokenAddress][contributor] += amount;
            _shares[bountyId][contributor].paid += amount;
            emit RewardAssigned(bountyId, round, contributor, amount);
        }
        r.assigned += total;
        b.totalPaid += total;
        b.escrow -= total;
    }

    /// @dev A closing round nobody submitted to: its own reward returns to the owner (the carry
    /// stays with the bounty's contributors).
    function _refundRound(Bounty storage b) private {
        b.escrow -= b.rewardPerRound;
        claimable[address(b.token)][b.owner] += b.rewardPerRound;
    }

    function _leftoverShare(Bounty storage b, Share storage share) private view returns (uint256) {
        if (b.leftover == 0) return 0;
        if (b.totalCredit != 0) return Math.mulDiv(b.leftover, share.credit, b.totalCredit);
        if (b.totalPaid != 0) return Math.mulDiv(b.leftover, share.paid, b.totalPaid);
        return Math.mulDiv(b.leftover, share.rounds, b.submissionCount);
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
        b.submissionCount += _rounds[bountyId][b.currentRound].submitters.length;
        uint32 next = b.currentRound + 1;
        if (b.status == Status.Cancelled || next >= b.rounds) {
            if (b.status == Status.Open) b.status = Status.Completed;
            // the end: the carry becomes the leftover shared by claimLeftover
            b.ended = true;
            uint256 leftover = b.carry;
            b.leftover = leftover;
            b.carry = 0;
            emit BountyEnded(bountyId, leftover);
            return;
        }
        b.currentRound = next;
        _openRound(bountyId, b, next, modelHash, modelURI);
    }
}
