"""How fast a run streams to a client: the app served in this process, driven by gradio_client.

    python -m bench.streaming [--json]

Each run is the fastest of 3 after a warm-up. Per task (sinusoid: MAML on a sine support set;
characters: 3-way 1-shot, drawn examples):
- at delay 0, 100 sinusoid or 20 character steps: the wall time from submit to the last update
  and the updates sent (faster steps than demo.session.FRAME_S are shown FRAME_S apart);
- at delay FRAME_S, where every step is its own update, 5 and 20 steps: the time per streamed
  update beyond the delay, (wall₂₀ − wall₅) / 15 − FRAME_S, against the target of 2× the inner
  step's own compute (the badge's mean wall time per step) + 20 ms.
Targets: 100 sinusoid steps and 20 character steps at delay 0 in under 3 s each.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from gradio_client import Client, handle_file
from PIL import Image

from demo import build_app
from demo.session import FRAME_S
from demo.store import CheckpointStore
from tests.demo_fixtures import character_sketch, served


def sinusoid_args(steps: int, delay: float) -> list:
    return ["sine", 2.0, 1.0, 5, None, {"headers": ["x", "y"], "data": [], "metadata": None}, "maml", 0.01, steps,
            delay, 0]


def timed(client: Client, args: list, api_name: str) -> tuple[float, list]:
    """(seconds from submit to the last update, every update)."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=api_name)
    job.result(timeout=300)
    return time.perf_counter() - start, job.outputs()


def per_step_compute(badge: str) -> float:
    """The badge's '… · 3.21 ms per inner step', in seconds."""
    return float(badge.split("·")[-1].split("ms")[0]) / 1000


def measure(repeats: int = 3) -> dict:
    """Each run `repeats` times after a warm-up; the fastest counts (the machine's own noise aside)."""
    store = CheckpointStore(device=torch.device("cpu"))
    with served(build_app(store)) as url:
        client = Client(url, verbose=False)

        def fastest(args: list, api_name: str) -> tuple[float, list]:
            client.submit(*args, api_name=api_name).result(timeout=300)  # warm-up: models load, paths compile
            return min((timed(client, args, api_name) for _ in range(repeats)), key=lambda run: run[0])

        folder = Path(tempfile.mkdtemp())

        def sketch(kind: int) -> dict:
            path = folder / f"{kind}.png"
            Image.fromarray(character_sketch(kind)).save(path)
            return {"background": None, "layers": [], "composite": handle_file(str(path)), "id": None}

        for label in range(3):
            client.predict(sketch(label), label + 1, 3, api_name="/add_example")
        runs = {"sinusoid": lambda steps, delay: fastest(sinusoid_args(steps, delay), "/adapt_sinusoid"),
                "characters": lambda steps, delay: fastest([3, 1, sketch(1), "maml", 0.4, steps, delay],
                                                           "/adapt_characters")}
        results = {}
        for name, run in runs.items():
            fast = 100 if name == "sinusoid" else 20
            wall, updates = run(fast, 0.0)
            (short, _), (long, paced) = run(5, FRAME_S), run(20, FRAME_S)
            compute = per_step_compute(paced[-1][-1])
            per_update = (long - short) / 15 - FRAME_S
            results[name] = {"steps_at_delay_0": fast, "wall_at_delay_0_s": wall, "updates_at_delay_0": len(updates),
                             "step_compute_s": compute, "seconds_per_update_beyond_delay": per_update,
                             "target_per_update_s": 2 * compute + 0.020}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = measure()
    for name, numbers in results.items():
        print(f"{name}: {numbers['steps_at_delay_0']} steps at delay 0 in {numbers['wall_at_delay_0_s']:.2f} s "
              f"({numbers['updates_at_delay_0']} updates); {1000 * numbers['step_compute_s']:.2f} ms per step's "
              f"compute, {1000 * numbers['seconds_per_update_beyond_delay']:.1f} ms per streamed update beyond the "
              f"delay (target {1000 * numbers['target_per_update_s']:.1f} ms)", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
