"""The command line shared by the tools that run on a card report's Omniglot episodes (bench.paired, bench.step_parts)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

SHARED_OMNIGLOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"  # the archives beside the checkout


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --episodes, --device and --json."""
    parser.add_argument("--data", nargs="+", help="Omniglot folders or .zip archives (default: the .zip archives in ../shared/data/omniglot)")
    parser.add_argument("--episodes", type=int, default=600, help="episodes per row (the reports': 600)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_report(args: argparse.Namespace, rows_of: Callable[[list[str]], list[dict]],
               print_rows: Callable[[list[dict]], None]) -> int:
    """rows_of(the Omniglot sources), printed as JSON (--json) or by print_rows; exit status 0.

    Bad arguments, missing data or an unusable checkpoint print one 'error: …' line to stderr and give 2.
    """
    try:
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        data = args.data or sorted(str(path) for path in SHARED_OMNIGLOT.glob("*.zip"))
        if not data:
            raise ValueError("no Omniglot data: give --data (folders or .zip archives)")
        rows = rows_of(data)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print_rows(rows)
    return 0
