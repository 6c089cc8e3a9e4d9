"""`quarry wallet ...`: create, import, list, export, change-password, add-account,
reveal-mnemonic, set-label, keyring.

Every command reads and validates all its input before it writes anything, so bad input
leaves the data directory as it was.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from wallet import keys, keystore
from wallet.account_info import AccountInfo
from wallet.cli.common import (
    add_json_option,
    add_password_file_option,
    emit,
    home_from,
    open_vault,
    read_secret,
    read_text_file,
)
from wallet.errors import InvalidInput, QuarryError

MNEMONIC_WARNING = (
    "Write these words down on paper, in order, and keep them somewhere safe. They are the "
    "only way to recover this wallet, anyone who has them controls its funds, and Quarry "
    "will not show them again unless you ask with 'quarry wallet reveal-mnemonic'."
)


def register(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    wallet = subparsers.add_parser("wallet", help="accounts, keys and backups")
    commands = wallet.add_subparsers(dest="wallet_command", metavar="COMMAND", required=True)
    groups["wallet"] = commands

    create = commands.add_parser("create", help="create a new wallet with a recovery phrase")
    create.add_argument("--words", type=int, choices=keys.CREATE_WORD_COUNTS, default=12,
                        help="recovery phrase length (default 12)")
    add_password_file_option(create, help_text="file whose first line is the new wallet "
                             "password ('-' = standard input); default: prompt twice")
    create.add_argument("--label", metavar="L", help="label of the first account")
    add_json_option(create)
    create.set_defaults(func=cmd_create)

    imp = commands.add_parser(
        "import", help="import a recovery phrase, keystore file or private key",
        description="Import into this home's wallet (creating it if there is none). When a "
        "wallet exists, the password must be its password.",
    )
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("--mnemonic-file", metavar="F", help="file holding the recovery phrase")
    source.add_argument("--keystore", metavar="F", help="keystore v3 JSON file (scrypt or pbkdf2)")
    source.add_argument("--private-key-file", metavar="F", help="file holding a hex private key")
    imp.add_argument("--account-index", type=int, default=None, metavar="N",
                     help="with --mnemonic-file: the account m/44'/60'/0'/0/N (default 0)")
    imp.add_argument("--keystore-password-file", metavar="F",
                     help="with --keystore: its password (default: the wallet password)")
    add_password_file_option(imp)
    imp.add_argument("--label", metavar="L", help="account label")
    add_json_option(imp)
    imp.set_defaults(func=cmd_import)

    listing = commands.add_parser("list", help="list the accounts (address, label, kind)")
    add_json_option(listing)
    listing.set_defaults(func=cmd_list)

    export = commands.add_parser("export", help="export an account as a keystore v3 file")
    export.add_argument("--address", required=True, metavar="A", help="EIP-55 checksummed address")
    export.add_argument("--out", required=True, metavar="F", help="file to write")
    export.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_password_file_option(export)
    export.set_defaults(func=cmd_export)

    change = commands.add_parser("change-password", help="re-encrypt everything under a new password")
    add_password_file_option(change, help_text="file with the current password; default: prompt")
    add_password_file_option(change, "--new-password-file",
                             help_text="file with the new password; default: prompt twice")
    change.set_defaults(func=cmd_change_password)

    add = commands.add_parser("add-account", help="derive the next account from the recovery phrase")
    add.add_argument("--label", metavar="L", help="account label")
    add_password_file_option(add)
    add_json_option(add)
    add.set_defaults(func=cmd_add_account)

    reveal = commands.add_parser("reveal-mnemonic", help="show the recovery phrase (needs the password)")
    add_password_file_option(reveal)
    reveal.set_defaults(func=cmd_reveal_mnemonic)

    label = commands.add_parser("set-label", help="rename an account")
    label.add_argument("--address", required=True, metavar="A")
    label.add_argument("--label", required=True, metavar="L")
    label.set_defaults(func=cmd_set_label)

    ring = commands.add_parser("keyring", help="remember the password on this computer, or forget it")
    action = ring.add_mutually_exclusive_group()
    action.add_argument("--remember", action="store_true", help="store the password in the OS keyring")
    action.add_argument("--forget", action="store_true", help="remove it from the OS keyring")
    add_password_file_option(ring)
    ring.set_defaults(func=cmd_keyring)


def _account_dict(info: AccountInfo) -> dict:
    return asdict(info)


def _describe(info: AccountInfo) -> str:
    kind = f"hd #{info.hd_index}" if info.hd_index is not None else info.kind
    return f"{info.address}  {kind}  {info.label}".rstrip()


def cmd_create(args: argparse.Namespace) -> int:
    from wallet.vault import Vault

    home = home_from(args)
    if Vault.exists(home):
        raise InvalidInput(
            f"A wallet already exists in {home}. Use 'quarry wallet add-account' for another "
            "account, or --home for a separate wallet."
        )
    password = read_secret(args.password_file, "New wallet password", confirm=True)
    vault, phrase = Vault.create(home, password, words=args.words, label=args.label)
    with vault:
        [account] = vault.accounts()
    emit(
        args,
        {"home": str(home), "address": account.address, "mnemonic": phrase, "warning": MNEMONIC_WARNING},
        f"Created a wallet in {home}\n"
        f"Address: {account.address}\n\n"
        f"Recovery phrase ({args.words} words):\n\n    {phrase}\n\n"
        f"WARNING: {MNEMONIC_WARNING}",
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from wallet.vault import Vault

    home = home_from(args)
    if args.account_index is not None and not args.mnemonic_file:
        raise InvalidInput("--account-index only applies with --mnemonic-file.")
    if args.keystore_password_file and not args.keystore:
        raise InvalidInput("--keystore-password-file only applies with --keystore.")
    label = args.label
    # Read and check the source before asking for any password.
    if args.mnemonic_file:
        phrase = keys.normalize_mnemonic(read_text_file(args.mnemonic_file, "recovery phrase"))
        index = 0 if args.account_index is None else args.account_index
        keys.hd_path(index)
    elif args.keystore:
        keystore_text = read_text_file(args.keystore, "keystore")
        keystore.load_keystore(keystore_text, f"The file {args.keystore}")
    else:
        key = keys.parse_private_key(read_text_file(args.private_key_file, "private key"))
    exists = Vault.exists(home)
    password = read_secret(
        args.password_file,
        "Wallet password" if exists else "New wallet password",
        confirm=not exists,
    )
    if args.mnemonic_file:
        vault, info = Vault.import_mnemonic(home, phrase, password, index, label)
        vault.close()
    elif args.keystore:
        keystore_password = (
            read_secret(args.keystore_password_file, "Keystore password", what="keystore password")
            if args.keystore_password_file
            else password
        )
        with Vault.load(home) as vault:
            info = vault.import_keystore(keystore_text, keystore_password, password, label)
    else:
        with Vault.load(home) as vault:
            info = vault.import_private_key(key, password, label)
    # a restored account's earlier rounds are checked from what the old computer kept
    emit(args, _account_dict(info), f"Imported {_describe(info)}\nIf it sent updates from another computer, "
         "'quarry recover-sent' gets back what checks the copy claims and openings of their rounds.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from wallet.vault import Vault

    home = home_from(args)
    if not Vault.exists(home):
        emit(args, [], f"No wallet in {home} yet. Create one with 'quarry wallet create'.")
        return 0
    with open_vault(args) as vault:
        accounts = vault.accounts()
    if getattr(args, "json", False):
        emit(args, [_account_dict(a) for a in accounts], "")
        return 0
    rows = [("ADDRESS", "KIND", "LABEL")] + [
        (a.address, a.kind if a.hd_index is None else f"{a.kind} #{a.hd_index}", a.label)
        for a in accounts
    ]
    kind_width = max(len(r[1]) for r in rows)
    print("\n".join(f"{r[0]:<42}  {r[1]:<{kind_width}}  {r[2]}".rstrip() for r in rows))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    address = keys.parse_address(args.address)
    if Path(args.out).expanduser().is_file() and not args.force:
        raise InvalidInput(f"{args.out} already exists; choose another file or pass --force to replace it.")
    with open_vault(args) as vault:
        vault.account(address)  # unknown address: fail before asking for the password
        password = read_secret(args.password_file, "Wallet password")
        target = vault.export_keystore(address, password, args.out)
    print(f"Exported {address} to {target} (keystore v3, encrypted with your wallet password).")
    return 0


def cmd_change_password(args: argparse.Namespace) -> int:
    with open_vault(args) as vault:
        old = read_secret(args.password_file, "Current password")
        new = read_secret(args.new_password_file, "New password", confirm=True, what="new password")
        vault.change_password(old, new)
        count = len(vault.accounts()) + (1 if vault.has_mnemonic else 0)
    print(f"Password changed; {count} encrypted files rewritten.")
    return 0


def cmd_add_account(args: argparse.Namespace) -> int:
    with open_vault(args) as vault:
        password = read_secret(args.password_file, "Wallet password")
        info = vault.add_hd_account(password, args.label)
    emit(args, _account_dict(info), f"Added {_describe(info)}")
    return 0


def cmd_reveal_mnemonic(args: argparse.Namespace) -> int:
    with open_vault(args) as vault:
        password = read_secret(args.password_file, "Wallet password")
        phrase = vault.reveal_mnemonic(password)
    print(phrase)
    return 0


def cmd_set_label(args: argparse.Namespace) -> int:
    address = keys.parse_address(args.address)  # checked before the wallet is opened
    with open_vault(args) as vault:
        vault.set_label(address, args.label)
        info = vault.account(address)
    print(f"Renamed {_describe(info)}")
    return 0


def cmd_keyring(args: argparse.Namespace) -> int:
    from wallet import remember

    status = remember.keyring_status()
    home = home_from(args)
    if args.forget:
        remember.forget_password(home)
        print("The password is no longer remembered on this computer.")
        return 0
    if args.remember:
        if not status.available:
            raise QuarryError(status.message)
        with open_vault(args) as vault:
            password = read_secret(args.password_file, "Wallet password")
            vault.unlock(password)  # only a password that works is remembered
        remember.remember_password(home, password)
        print(f"Password remembered. {status.message}")
        return 0
    state = "remembered" if remember.is_remembered(home) else "not remembered"
    print(f"{status.message} The password of {home} is {state}.")
    return 0
