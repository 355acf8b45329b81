"""What each meta-gradient costs as the inner loop gets longer: core.compare.cost_sweep, timed whole.

    python -m bench.gradient_cost [--tasks 10] [--json]

Sinusoid: the shipped MAML θ, `--tasks` fresh tasks (K = 10, 10 query points), S = 1 … 10, vmap.
Characters: the shipped MAML Conv4, `--episodes` 5-way 1-shot episodes of random 28×28 images
(15 queries per class, as bench.meta_gradient's W2), S = 1 … 5, the loop. For each: the sweep's wall
time, and per method the seconds and peak memory at every S with the memory's slope per step.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from core.checkpoints import load_checkpoint
from core.compare import METHODS, cost_sweep
from core.device import describe_device, generator, resolve_device
from core.tasks import SinusoidDistribution, Task, stack_tasks


def episodes(count: int, device: torch.device, ways: int = 5, queries: int = 15) -> Task:
    gen = generator(0)
    return stack_tasks([Task(torch.rand(ways, 1, 28, 28, generator=gen), torch.arange(ways),
                             torch.rand(ways * queries, 1, 28, 28, generator=gen),
                             torch.arange(ways).repeat_interleave(queries)) for _ in range(count)]).to(device)


def sweep(name: str, checkpoint: str, batch_of, steps: list[int], strategy: str, device: torch.device) -> dict:
    model, theta, card = load_checkpoint(checkpoint, device)
    batch = batch_of(device)
    start = time.perf_counter()
    result = cost_sweep(model, theta, batch, card["config"]["inner_lr"], steps, METHODS, repeats=1, strategy=strategy)
    elapsed = time.perf_counter() - start
    print(f"{name}: S = {steps[0]}…{steps[-1]}, {len(batch)} tasks, {elapsed:.1f} s", file=sys.stderr)
    for method in METHODS:
        print(f"  {method:7s} ms {[round(1000 * s, 1) for s in result.seconds[method]]}  KiB "
              f"{[round(b / 1024) for b in result.peak_bytes[method]]}  slope {result.memory_slope[method] / 1024:.1f} "
              "KiB/step", file=sys.stderr)
    return {"workload": name, "tasks": len(batch), "strategy": strategy, "seconds_total": elapsed,
            "steps": result.steps, "seconds": result.seconds, "peak_bytes": result.peak_bytes,
            "memory_slope_bytes_per_step": result.memory_slope}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gradient_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10, help="sinusoid tasks in the batch")
    parser.add_argument("--episodes", type=int, default=2, help="character episodes in the batch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = [sweep("sinusoid", "assets/sinusoid_maml.pt",
                  lambda d: SinusoidDistribution(support=10, query=10).sample(args.tasks, generator(0)).to(d),
                  list(range(1, 11)), "vmap", device),
            sweep("characters", "assets/omniglot_maml.pt", lambda d: episodes(args.episodes, d),
                  list(range(1, 6)), "loop", device)]
    result = {"device": describe_device(device), "threads": args.threads, "torch": torch.__version__, "rows": rows}
    print(json.dumps(result, indent=1) if args.json else "\n".join(
        f"{r['workload']}: {r['seconds_total']:.1f} s" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
