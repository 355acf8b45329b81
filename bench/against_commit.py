"""The meta-gradient benchmark's rows, this checkout against an earlier commit, interleaved in one run.

    python -m bench.against_commit 25ca4bb [--workloads W1 W2] [--steps 1 5] [--rounds 3] [--json]

The earlier commit is checked out into a temporary git worktree. For each row (workload,
algorithm, inner steps) the two trees take turns, `rounds` times, the one going first alternating.
Each turn is a fresh process that builds the workload (bench.meta_gradient.workload, seeded, so
the same batch in both trees), runs one warm-up meta-gradient and times `repeats` more with one
fixed strategy (W1: vmap, W2: the loop, the choices the benchmark makes on a CPU). A row reports each tree's median seconds over all
its timed runs and the speed ratio (earlier / this: above 1 means this checkout is faster).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGY = {"W1": "vmap", "W2": "loop"}
TIMER = """
import json, statistics, sys, time, torch
from bench.meta_gradient import workload
from core.meta import meta_gradient
name, algorithm, steps, strategy, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
torch.set_num_threads(int(sys.argv[6]))
model, theta, batch, inner_lr = workload(name, torch.device("cpu"))
meta_gradient(model, theta, batch, algorithm, inner_lr, steps, strategy)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    meta_gradient(model, theta, batch, algorithm, inner_lr, steps, strategy)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def timed(tree: Path, name: str, algorithm: str, steps: int, repeats: int, threads: int) -> list[float]:
    result = subprocess.run([sys.executable, "-c", TIMER, name, algorithm, str(steps), STRATEGY[name], str(repeats),
                             str(threads)], cwd=tree, capture_output=True, text=True, env={"PYTHONPATH": str(tree),
                             "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": str(threads)}, timeout=1800)
    if result.returncode:
        raise RuntimeError(f"{tree}: {result.stderr[-500:]}")
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.against_commit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commit", help="the earlier commit to measure against")
    parser.add_argument("--workloads", nargs="+", default=["W1", "W2"], choices=sorted(STRATEGY))
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--algorithms", nargs="+", default=["maml", "fomaml", "anil"])
    parser.add_argument("--rounds", type=int, default=3, help="turns of each tree per row")
    parser.add_argument("--repeats", type=int, default=3, help="timed meta-gradients per turn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        earlier = Path(scratch) / "earlier"
        subprocess.run(["git", "worktree", "add", "--detach", str(earlier), args.commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for name in args.workloads:
                for steps in args.steps:
                    for algorithm in args.algorithms:
                        times = {"earlier": [], "this": []}
                        for turn in range(args.rounds):
                            order = (("earlier", earlier), ("this", ROOT))
                            for label, tree in order[::-1] if turn % 2 else order:  # who goes first alternates
                                times[label] += timed(tree, name, algorithm, steps, args.repeats, args.threads)
                        earlier_s, this_s = statistics.median(times["earlier"]), statistics.median(times["this"])
                        row = {"workload": name, "algorithm": algorithm, "steps": steps, "strategy": STRATEGY[name],
                               "earlier_s": earlier_s, "this_s": this_s, "speed_ratio": earlier_s / this_s}
                        rows.append(row)
                        print(f"{name} {algorithm:7s} S={steps} {STRATEGY[name]:5s} earlier {1000 * earlier_s:9.2f} ms"
                              f"  this {1000 * this_s:9.2f} ms  speed ×{earlier_s / this_s:.3f}", file=sys.stderr,
                              flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(earlier)], cwd=ROOT, capture_output=True)
    result = {"commit": args.commit, "rounds": args.rounds, "repeats": args.repeats, "threads": args.threads,
              "rows": rows}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for row in rows:
            print(f"| {row['workload']} | {row['algorithm']} | {row['steps']} | {1000 * row['earlier_s']:.2f} | "
                  f"{1000 * row['this_s']:.2f} | {row['speed_ratio']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
