"""The store's upkeep from the command line: backup, restore, the dead letters."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gateway.cli.common import store_path


def cmd_backup(args: argparse.Namespace) -> int:
    from gateway.store import backup

    info = backup(store_path(args), Path(args.dest), overwrite=args.overwrite)
    print(f"backup written to {info.dest}: {info.incidents} incidents, {info.events} events, "
          f"{info.signals} signals, schema {info.schema_version}, {info.bytes:,} bytes in "
          f"{info.seconds:.1f}s")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from gateway.store import restore

    info = restore(Path(args.src), store_path(args), now=time.time())
    print(f"restored {info.source} into {info.store}: {info.incidents} incidents, "
          f"{info.events} events, {info.signals} signals (schema {info.schema_version})")
    if info.aside is not None:
        print(f"the store it replaced is kept at {info.aside}")
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from gateway.present import render
    from gateway.store import open_records

    with open_records(store_path(args), readonly=True) as records:
        letters = records.list_dead_letters(args.limit)
    if not letters:
        print("没有无法解析的消息 / no dead letters")
    for d in letters:
        shown = d.payload[:200].decode("utf-8", "replace")
        print(f"{render.ts(d.at)}  {d.reason:<14} {d.topic}  {d.detail}  "
              f"[{d.size} bytes] {shown!r}")
    return 0


