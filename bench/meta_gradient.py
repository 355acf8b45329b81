"""Benchmark: meta-iterations per second and peak memory of one meta-gradient.

    python -m bench.meta_gradient [--json] [--workloads W1 W2] [--steps 1 5 10] [--repeats 10]

W1: sinusoid MLP 1-40-40-1, meta-batch 25, K = 10 support and 10 query points.
W2: Conv4, 5-way 1-shot with 15 queries per class, meta-batch 32.
For each inner-step count and algorithm, the engine picks its strategy by measurement
(core.meta.choose_strategy), then both it and the naive per-task autograd.grad loop
(bench.naive) are timed, alternately: median of `repeats` runs of each after one warm-up.
Peak memory is core.device.measure_peak_memory (CUDA: max_memory_allocated; CPU: the live
tensor storages, core.device.LiveTensorBytes; the tables in docs/RESULTS.md were taken with the
torch profiler's allocation events before, which count up to about 150 KiB less on a sinusoid batch).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from bench.naive import naive_meta_gradient
from core.compare import slope
from core.device import describe_device, generator, measure_peak_memory, resolve_device, synchronize
from core.meta import choose_strategy, meta_gradient
from core.registry import META_GRADIENTS
from core.models import Conv4, SinusoidMLP, params
from core.tasks import SinusoidDistribution, Task, stack_tasks

MiB = 2**20


def workload(name: str, device: torch.device) -> tuple[torch.nn.Module, dict, Task, float]:
    """(model, θ, batch, α) of W1 or W2, seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = SinusoidMLP() if name == "W1" else Conv4()
    model = model.to(device)
    theta = params(model, device=device)
    gen = generator(0)
    if name == "W1":
        return model, theta, SinusoidDistribution(support=10, query=10).sample(25, gen).to(device), 0.01
    ways, shots, queries = 5, 1, 15
    episodes = [Task(torch.rand(ways * shots, 1, 28, 28, generator=gen), torch.arange(ways).repeat_interleave(shots),
                     torch.rand(ways * queries, 1, 28, 28, generator=gen), torch.arange(ways).repeat_interleave(queries))
                for _ in range(32)]
    return model, theta, stack_tasks(episodes).to(device), 0.4


def rates(ours, naive, device: torch.device, repeats: int) -> tuple[float, float]:
    """Median calls per second of each of two functions over `repeats` timed calls after one
    warm-up each, alternating between them so that drift in the machine's speed hits both."""
    times: dict = {ours: [], naive: []}
    for fn in (ours, naive):
        fn()
    synchronize(device)
    for _ in range(repeats):
        for fn in (ours, naive):
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[fn].append(time.perf_counter() - start)
    return 1.0 / statistics.median(times[ours]), 1.0 / statistics.median(times[naive])


def run(workloads: list[str], steps_list: list[int], algorithms: list[str], repeats: int,
        device: torch.device, log=print) -> dict:
    rows = []
    for name in workloads:
        model, theta, batch, inner_lr = workload(name, device)
        for steps in steps_list:
            for algorithm in algorithms:
                choice = choose_strategy(model, theta, batch, algorithm, inner_lr, steps, repeats=1)
                ours, naive = rates(
                    lambda: meta_gradient(model, theta, batch, algorithm, inner_lr, steps, choice.strategy),
                    lambda: naive_meta_gradient(model, theta, batch, algorithm, inner_lr, steps), device, repeats)
                _, ours_peak = measure_peak_memory(
                    lambda: meta_gradient(model, theta, batch, algorithm, inner_lr, steps, choice.strategy), device)
                _, naive_peak = measure_peak_memory(
                    lambda: naive_meta_gradient(model, theta, batch, algorithm, inner_lr, steps), device)
                row = {"workload": name, "algorithm": algorithm, "steps": steps, "strategy": choice.strategy,
                       "ours_it_s": ours, "naive_it_s": naive, "speedup": ours / naive,
                       "ours_peak_mib": ours_peak / MiB, "naive_peak_mib": naive_peak / MiB,
                       "memory_ratio": ours_peak / naive_peak if naive_peak else None,
                       "candidates_s": choice.seconds, "skipped": choice.skipped}
                rows.append(row)
                log(f"{name} {algorithm:7s} S={steps:<2d} {choice.strategy:7s} ours {ours:8.2f} it/s "
                    f"naive {naive:8.2f} it/s  x{ours / naive:5.2f}   peak {ours_peak / MiB:8.3g} MiB "
                    f"(naive {naive_peak / MiB:8.3g})")
    summary = {}
    for name in workloads:
        for algorithm in ("maml", "fomaml"):
            points = [(r["steps"], r["ours_peak_mib"]) for r in rows if r["workload"] == name and r["algorithm"] == algorithm]
            if len(points) >= 2:
                summary[f"{name} {algorithm} memory slope MiB/step"] = slope(*map(list, zip(*points)))
        by = {(r["algorithm"], r["steps"]): r for r in rows if r["workload"] == name}
        for steps in steps_list:
            if ("maml", steps) in by and ("fomaml", steps) in by:
                summary[f"{name} first-order / second-order speed at S={steps}"] = (
                    by[("fomaml", steps)]["ours_it_s"] / by[("maml", steps)]["ours_it_s"])
    return {"device": describe_device(device), "torch": torch.__version__, "machine": platform.machine(),
            "threads": torch.get_num_threads(), "repeats": repeats, "rows": rows, "summary": summary}


def markdown(result: dict) -> str:
    lines = [f"Device: {result['device']}, torch {result['torch']}, {result['threads']} threads, "
             f"median of {result['repeats']} after warm-up.", "",
             "| workload | algorithm | steps | strategy | ours it/s | naive it/s | speed-up | ours peak MiB | naive peak MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['workload']} | {r['algorithm']} | {r['steps']} | {r['strategy']} | {r['ours_it_s']:.2f} | "
                     f"{r['naive_it_s']:.2f} | {r['speedup']:.2f}× | {r['ours_peak_mib']:.3g} | {r['naive_peak_mib']:.3g} |")
    lines.append("")
    lines.extend(f"- {key}: {value:.3g}" for key, value in result["summary"].items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.meta_gradient", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=["W1", "W2"], choices=["W1", "W2"])
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--algorithms", nargs="+", default=list(META_GRADIENTS), choices=META_GRADIENTS)
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per row (median)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.repeats < 1 or any(s < 0 for s in args.steps):
        print("error: --repeats must be >= 1 and --steps >= 0", file=sys.stderr)
        return 2
    result = run(args.workloads, args.steps, args.algorithms, args.repeats, device,
                 log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=1) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
