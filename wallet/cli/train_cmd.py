"""`quarry train BOUNTY --data FILE... [--epochs N] [--privacy row|dataset|none] [--dp-noise S]
[--dp-clip C] [--dry-run] [--gasless]`
and `quarry upload` (retry the uploads that failed after their on-chain commit); registers
`quarry autopilot` (wallet/cli/autopilot_cmd.py, standing contributions) too.

Trains the bounty's model on the owner's files, encrypts the update, uploads it and submits
its hash (or, with --dry-run, stops before anything leaves the computer and prints what
would be sent). The work is wallet.contribute's; this is its command-line face.
"""

from __future__ import annotations

import argparse
import math
import sys

from wallet.cli.common import add_json_option, add_password_file_option, emit


def register(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    train = subparsers.add_parser(
        "train", help="train on your data and submit an encrypted update to a bounty",
        description="Train the bounty's model on your own files, encrypt the update under the "
        "bounty's key and submit it. Only the encrypted update and its hash leave your computer.",
    )
    train.add_argument("bounty", type=int, metavar="BOUNTY", help="bounty id")
    train.add_argument("--data", nargs="+", required=True, metavar="FILE",
                       help="your data: CSV or .npz files in the bounty's schema")
    train.add_argument("--epochs", type=int, metavar="N", help="local epochs (default: the spec's)")
    train.add_argument("--privacy", choices=("row", "dataset", "none"), default=None,
                       help="row: protect each row with DP-SGD during training (the default); "
                       "dataset: noise once on the whole update (protects your whole dataset, "
                       "costs far more accuracy and pay); none: no noise")
    train.add_argument("--dp-noise", type=float, default=0.0, metavar="S",
                       help="noise multiplier of the chosen mode (row: default 2; dataset: "
                       "required; alone it means --privacy dataset)")
    train.add_argument("--dp-clip", type=float, metavar="C",
                       help="DP-SGD's per-row gradient clip (default 4)")
    train.add_argument("--dry-run", action="store_true",
                       help="train and encrypt, then stop: print what would be sent")
    train.add_argument("--gasless", action="store_true",
                       help="sign the submission and let the bounty's inbox relay it (no ETH needed)")
    train.add_argument("--account", metavar="ADDR", help="account to submit from (default: the first)")
    add_password_file_option(train)
    add_json_option(train)
    train.set_defaults(func=cmd_train)

    upload = subparsers.add_parser(
        "upload", help="retry uploading updates submitted on chain whose upload failed",
        description="An update's hash is committed on chain before its blob is uploaded. When "
        "the upload failed, the encrypted update waits in the wallet's outbox; this uploads "
        "every such update again (and drops any whose commit never reached the chain).")
    add_json_option(upload)
    upload.set_defaults(func=cmd_upload)

    # standing contributions: the same staged contribution, round after round
    from wallet.cli import autopilot_cmd

    autopilot_cmd.register(subparsers, groups)


def cmd_train(args: argparse.Namespace) -> int:
    # the chain commands' session: wallet, current network, account, and on the embedded
    # network the faucet's first funding (a new user's first command may be this one)
    from wallet.cli.chain_cmd import Session
    from wallet.contribute import ContributeOptions, check_data_files, check_options, contribute
    from wallet.privacy_budget import PrivacyBudget

    # no --privacy: "row" (DP-SGD), unless --dp-noise alone asks for the older whole-update noise
    privacy = args.privacy or ("dataset" if args.dp_noise > 0 else "row")
    options = ContributeOptions(
        epochs=args.epochs, noise_multiplier=args.dp_noise, gasless=args.gasless,
        dry_run=args.dry_run, privacy=privacy, dp_clip=args.dp_clip,
    )
    # a missing file or a bad option is said before the wallet is unlocked or a node asked
    check_data_files(args.data)
    check_options(options)
    session = Session(args, signs=not args.dry_run, needs_account=not args.dry_run)
    try:
        client = session.bounty_client()
        signer = None if args.dry_run else session.signer()

        def progress(step: str, fraction: float, message: str) -> None:
            if not args.json and (fraction == 0.0 or step == "train"):
                print(f"[{step}] {message}", file=sys.stderr)

        # file:// URIs from the chain are read only inside this wallet's data directory
        result = contribute(
            client, signer, args.bounty, args.data, options, file_roots=[session.home],
            blob_dir=session.home / "blobs", outbox_dir=session.home / "outbox", progress=progress,
            budget=PrivacyBudget(session.store),
        )
    finally:
        session.close()
    data = {
        "bounty": result.bounty_id, "round": result.round, "blobHash": result.blob_hash,
        "blobBytes": result.blob_bytes, "rows": result.n_rows,
        "epsilon": None if math.isinf(result.epsilon) else result.epsilon,
        "uri": result.uri, "txHash": result.tx_hash, "dryRun": result.dry_run,
        "uploadError": result.upload_error, "keptAt": result.kept_at,
    }
    emit(args, data, result.summary())
    warning = result.upload_warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
        return 1
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from wallet.cli.chain_cmd import Session
    from wallet.outbox import Outbox, retry_uploads

    with Session(args, needs_account=False) as session:
        results = retry_uploads(session.bounty_client(), Outbox(session.home / "outbox"))
    data = [{"bounty": r.pending.bounty_id, "round": r.pending.round, "blobHash": r.pending.blob_hash,
             "outcome": r.outcome, "message": r.message} for r in results]
    lines = [f"Bounty {r.pending.bounty_id}, round {r.pending.round}, {r.pending.blob_hash[:12]}…: "
             + {"uploaded": f"uploaded to {r.message}", "not committed": r.message,
                "failed": f"still not uploaded ({r.message})"}[r.outcome] for r in results]
    from wallet.untrusted import printable  # an inbox's answer is a stranger's text

    emit(args, data, printable("\n".join(lines), keep_newlines=True) if lines else "Nothing waits to be uploaded.")
    return 1 if any(r.outcome == "failed" for r in results) else 0
