"""How fast the Meta-train tab trains: its handler run whole, streaming included (every update's figures built).

    python -m bench.metatrain_speed [--iterations 500] [--threads 1] [--json]

Second-order sinusoid MAML (meta-batch 25, 1 inner step, α = 0.01, β = 1e-3) alone, then side by side
with first-order MAML on the same seed and tasks; each run's wall time and the ratio of the two.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from demo.session import Playback
from demo.store import CheckpointStore
from demo.tabs.metatrain import meta_train_handler


def timed(store: CheckpointStore, second: str, iterations: int) -> tuple[float, int, str]:
    start = time.perf_counter()
    updates = list(meta_train_handler(store, "maml", second, 25, 0.01, 0.001, 1, iterations, 0, "sinusoid", Playback()))
    return time.perf_counter() - start, len(updates), updates[-1][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metatrain_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app serves with 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    store = CheckpointStore()
    alone, updates, status = timed(store, "none", args.iterations)
    both, _, both_status = timed(store, "fomaml", args.iterations)
    result = {"iterations": args.iterations, "threads": args.threads, "device": str(store.device),
              "maml_alone_s": alone, "maml_and_fomaml_s": both, "ratio": both / alone, "updates": updates,
              "status_alone": status, "status_both": both_status}
    print(json.dumps(result, indent=1) if args.json else
          f"MAML alone {alone:.1f} s ({updates} updates); with first-order MAML {both:.1f} s: {both / alone:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
