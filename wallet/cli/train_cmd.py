"""`quarry train BOUNTY --data FILE... [--epochs N] [--privacy row|dataset|none] [--dp-noise S]
[--dp-clip C] [--dry-run] [--gasless] [--map SPEC_COL=FILE_COL]... [--map-label VALUE=CLASS]...
[--sheet NAME] [--strict] [--drop-unknown-labels] [--show-mapping]`
and `quarry upload` (retry the uploads that failed after their on-chain commit); registers
`quarry autopilot` (wallet/cli/autopilot_cmd.py, standing contributions) too.

Trains the bounty's model on the owner's files, encrypts the update, uploads it and submits
its hash (or, with --dry-run, stops before anything leaves the computer and prints what
would be sent). The work is wallet.contribute's; this is its command-line face.

Files (CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, JSON, .npz) are matched to the bounty's
columns by name (trainer.mapping); an unambiguous match needs no confirmation, an ambiguous
or missing one is named with the file's columns to choose from with --map. Rows with missing
or bad cells are dropped and counted (--strict refuses instead). The mapping used is
remembered for this bounty and file (wallet.column_maps). --show-mapping prints the mapping,
the first rows as they will be used and what the check would use, remembers a mapping that
passes, then stops.
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
                       help="your data: CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, JSON or .npz "
                       "files; columns are matched to the bounty's by name")
    train.add_argument("--epochs", type=int, metavar="N", help="local epochs (default: the spec's)")
    train.add_argument("--allow-repeat", action="store_true",
                       help="send an update even when it is the one you already sent to another round "
                       "(without privacy noise, from the same model): whoever decrypted that one could send "
                       "it first from another address")
    train.add_argument("--allow-open-update", action="store_true",
                       help="send an update without privacy noise to a bounty that opens its updates to "
                       "the round's contributors once its validation set is revealed (they would see it as "
                       "it is)")
    train.add_argument("--privacy", choices=("row", "dataset", "none"), default=None,
                       help="row: protect each row with DP-SGD during training (the default); "
                       "dataset: noise once on the whole update (protects your whole dataset, "
                       "costs far more accuracy and pay); none: no noise")
    train.add_argument("--dp-noise", type=float, default=0.0, metavar="S",
                       help="noise multiplier of the chosen mode (row: default 2; dataset: "
                       "required; alone it means --privacy dataset)")
    train.add_argument("--dp-clip", type=float, metavar="C",
                       help="DP-SGD's per-row gradient clip (default 3)")
    train.add_argument("--dry-run", action="store_true",
                       help="train and encrypt, then stop: print what would be sent")
    train.add_argument("--gasless", action="store_true",
                       help="sign the submission and let the bounty's inbox relay it (no ETH needed)")
    train.add_argument("--account", metavar="ADDR", help="account to submit from (default: the first)")
    files = train.add_argument_group("reading your files")
    files.add_argument("--map", action="append", default=[], metavar="SPEC_COL=FILE_COL",
                       help="use the file's column FILE_COL for the bounty's column SPEC_COL "
                       "(repeatable; the label column too)")
    files.add_argument("--map-label", action="append", default=[], metavar="VALUE=CLASS",
                       help="read the label value VALUE as the bounty's class CLASS (repeatable)")
    files.add_argument("--sheet", metavar="NAME", help="the spreadsheet's sheet, by name or number "
                       "(default: the first sheet with data)")
    files.add_argument("--strict", action="store_true",
                       help="refuse a file with missing or bad cells instead of dropping those rows")
    files.add_argument("--drop-unknown-labels", action="store_true",
                       help="drop rows whose label is not one of the bounty's classes")
    files.add_argument("--show-mapping", action="store_true",
                       help="print how your files map to the bounty's columns and what would be "
                       "used, then stop (nothing is trained or sent; a mapping that passes is "
                       "remembered for standing contributions)")
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
    # the chain commands' session: wallet, current network, account, and on a network with a
    # faucet (the embedded one, another home's devnet) the first funding (a new user's first
    # command may be this one)
    from wallet.cli.chain_cmd import Session
    from wallet.column_maps import DataChoices
    from wallet.contribute import (
        ContributeOptions,
        OpenUpdateWithoutNoise,
        RepeatedUpdate,
        check_data_files,
        check_options,
        contribute,
    )
    from wallet.errors import InvalidInput
    from wallet.privacy_budget import PrivacyBudget

    # no --privacy: "row" (DP-SGD), unless --dp-noise alone asks for the older whole-update noise
    privacy = args.privacy or ("dataset" if args.dp_noise > 0 else "row")
    choices = DataChoices(
        columns=_pairs(args.map, "--map", "SPEC_COL=FILE_COL"),
        label_values=_pairs(args.map_label, "--map-label", "VALUE=CLASS"), strict=args.strict,
        drop_unknown_labels=args.drop_unknown_labels, sheet=args.sheet)
    options = ContributeOptions(
        epochs=args.epochs, noise_multiplier=args.dp_noise, gasless=args.gasless,
        dry_run=args.dry_run, privacy=privacy, dp_clip=args.dp_clip, data=choices,
        refuse_repeat=not args.allow_repeat, refuse_open_without_noise=not args.allow_open_update,
    )
    # a missing file or a bad option is said before the wallet is unlocked or a node asked
    check_data_files(args.data)
    check_options(options)
    if args.show_mapping:
        return _show_mapping(args, choices)
    session = Session(args, signs=not args.dry_run, needs_account=not args.dry_run)
    try:
        client = session.bounty_client()
        signer = None if args.dry_run else session.signer()

        def progress(step: str, fraction: float, message: str) -> None:
            if not args.json and (fraction == 0.0 or step == "train"):
                print(f"[{step}] {message}", file=sys.stderr)

        # file:// URIs from the chain are read only inside this wallet's data directory
        try:
            result = contribute(
                client, signer, args.bounty, args.data, options, file_roots=[session.home],
                blob_dir=session.home / "blobs", outbox_dir=session.home / "outbox", progress=progress,
                budget=PrivacyBudget(session.store), store=session.store,
            )
        except RepeatedUpdate as exc:
            raise InvalidInput(f"{exc} (--privacy row, the default, adds it; --allow-repeat sends this "
                               "one anyway.)") from exc
        except OpenUpdateWithoutNoise as exc:
            raise InvalidInput(f"{exc} (--privacy row, the default, protects each row; --allow-open-update "
                               "sends this one anyway.)") from exc
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


def _pairs(items: list[str], flag: str, form: str) -> dict[str, str]:
    from wallet.errors import InvalidInput

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{flag} takes {form}; got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def _show_mapping(args: argparse.Namespace, choices: object) -> int:
    """The mapping of each file, its first rows as they will be used, and what the check
    would use; nothing is trained or sent, and no password is asked. A mapping that passes
    the check is remembered for the bounty and file (as `quarry train` would): standing
    contributions (`quarry autopilot add`) then read the file the same way."""
    from trainer.data import load_dataset
    from trainer.errors import TrainerError
    from wallet.cli.chain_cmd import Session
    from wallet.column_maps import inspect_files, remember_used
    from wallet.contribute import Contribution

    with Session(args, signs=False, needs_account=False) as session:
        contribution = Contribution(session.bounty_client(), args.bounty,
                                    file_roots=[session.home], store=session.store)
        spec = contribution.open_round(require_open=False)
        options = contribution.load_options(args.data, choices)  # type: ignore[arg-type]
        inspections = inspect_files(args.data, spec, options)
        try:
            dataset = load_dataset(args.data, spec, options)
            check, ok = dataset.summary(spec), True
            remember_used(session.store, spec.spec_hash, args.bounty, dataset, options)
        except TrainerError as exc:
            dataset, check, ok = None, str(exc), False
    files = []
    lines = [f"Bounty {args.bounty} ({spec.title}): columns {', '.join(spec.schema.feature_names)}; "
             f"label '{spec.schema.label}', classes {list(spec.schema.classes)}."]
    for item in inspections:
        entry: dict = {"file": item.path, "format": item.fmt, "error": item.error}
        lines.append(f"\n{item.name} ({item.fmt or 'unreadable'})")
        if item.proposal is not None:
            entry["mapping"] = item.proposal.as_dict()
            entry["unused"] = list(item.proposal.extras)
            entry["unresolved"] = [m.spec_column for m in item.proposal.unresolved]
            lines += [f"  {line}" for line in item.proposal.lines()]
            if item.preview:
                entry["preview"] = item.preview
                lines.append("  first rows as they will be used:")
                lines += ["    " + ", ".join(row) for row in item.preview]
        elif item.error:
            lines.append(f"  {item.error}")
        files.append(entry)
    lines.append("")
    lines.append(check + "\nThis mapping is remembered for this bounty and file (the next "
                 "`quarry train` and standing contributions use it)." if ok
                 else f"The check would refuse:\n{check}")
    if not ok:
        lines.append("Choose columns with --map SPEC_COL=FILE_COL, label values with "
                     "--map-label VALUE=CLASS, or drop such rows with --drop-unknown-labels.")
    data = {"bounty": args.bounty, "files": files, "ok": ok,
            "rows": dataset.n_rows if dataset is not None else None,
            "rowsRead": dataset.rows_read if dataset is not None else None,
            "problems": None if ok else check}
    from wallet.untrusted import printable  # column names and cells are the file's text

    emit(args, data, printable("\n".join(lines), keep_newlines=True))
    return 0 if ok else 1


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
