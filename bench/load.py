"""Load test: many gradio_client sessions at once against `python app.py`'s server, every update read.

    python -m bench.load [--sessions 30] [--seconds 60] [--threads 1] [--slots 4] [--mix classroom|worst]

The server runs in its own process (the shipped checkpoints, `demo.serve` with --threads and
--slots), so its RSS is measured alone, every 0.2 s. Each session is one gradio_client Client
(its own Gradio session) that sends requests from a fixed list, one after another, for --seconds,
reading every streamed update. Before the load, each distinct request runs once alone, at a delay
of demo.session.FRAME_S so that every step has its update; under load every request's streamed
updates must be those, exactly (the device badge, which reports measured time, aside): all of them,
or for a faster delay, whose frames are paced by time, an in-order subset ending alike. Prints one
JSON object: requests done, errors, isolation mismatches, p50/p95 seconds to the first and the
last update, and the server's peak RSS. Exits 1 on any error or mismatch.

--mix classroom: sinusoid runs of each algorithm and source (0–20 steps), and 3-way character
runs, as a class would send them. --mix worst: the most expensive request each endpoint accepts
(100 sinusoid steps over a drawn curve, 10-way 5-shot characters with 20 steps and full-size
sketches), to bound the server's memory.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
EMPTY = {"headers": ["x", "y"], "data": [], "metadata": None}


def serve_forever(port: int, threads: int, slots: int, runs: int) -> None:
    """The server side: the app as app.py serves it, with the given threads, compute slots and open runs."""
    from demo import build_app, serve

    app = build_app()
    serve(app, threads=threads, slots=slots, runs=runs, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
          quiet=True)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def character_png(folder: Path, kind: int, size: int) -> str:
    """A drawn character as a PNG: one of six stroke shapes, black on white."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    s, w = size / 280, max(1, round(10 * size / 280))
    shapes = [lambda: draw.line([(60 * s, 60 * s), (220 * s, 220 * s)], fill="black", width=w),
              lambda: draw.ellipse([70 * s, 70 * s, 210 * s, 210 * s], outline="black", width=w),
              lambda: draw.line([(140 * s, 40 * s), (140 * s, 240 * s), (60 * s, 240 * s)], fill="black", width=w),
              lambda: draw.line([(40 * s, 140 * s), (240 * s, 140 * s)], fill="black", width=w),
              lambda: draw.rectangle([80 * s, 80 * s, 200 * s, 200 * s], outline="black", width=w),
              lambda: draw.line([(60 * s, 220 * s), (140 * s, 60 * s), (220 * s, 220 * s)], fill="black", width=w)]
    shapes[kind % len(shapes)]()
    path = folder / f"character_{kind}_{size}.png"
    if not path.exists():
        image.save(path)
    return str(path)


def curve_layer(folder: Path) -> str:
    """A drawn curve as the Sinusoid tab's canvas layer (640 × 384, RGBA)."""
    path = folder / "curve.png"
    if not path.exists():
        layer = Image.new("RGBA", (640, 384), (0, 0, 0, 0))
        xs = np.linspace(20, 620, 200)
        ImageDraw.Draw(layer).line([(x, 192 - 90 * np.sin(x / 60)) for x in xs], fill=(17, 24, 39, 255), width=4)
        layer.save(path)
    return str(path)


def requests_of(mix: str, folder: Path, delay: float | None = None) -> list[dict]:
    """The distinct requests of a mix: each an endpoint's arguments (characters: the examples to add first).

    `delay` (seconds per step) replaces every request's own, as the page's delay slider would.
    """
    from gradio_client import handle_file

    def editor(path: str) -> dict:
        return {"background": None, "layers": [], "composite": handle_file(path), "id": None}

    def sinusoid(**changes) -> dict:
        args = dict(source="sine", amplitude=2.0, phase=1.0, shots=5, drawing=None, points=EMPTY,
                    algorithm="maml", inner_lr=0.01, steps=10, delay=0.0, seed=0)
        args = {**args, **changes, **({} if delay is None else {"delay": delay})}
        return {"kind": "sinusoid", "args": list(args.values())}

    def characters(ways: int, shots: int, steps: int, size: int, algorithm: str) -> dict:
        examples = [(editor(character_png(folder, c + 6 * k, size)), c + 1, ways)
                    for c in range(ways) for k in range(shots)]
        query = editor(character_png(folder, 1, size))
        return {"kind": "characters", "examples": examples,
                "args": [ways, shots, query, algorithm, 0.4, steps, delay or 0.0]}

    if mix == "worst":
        drawing = {"background": None, "layers": [handle_file(curve_layer(folder))], "composite": None, "id": None}
        return [sinusoid(source="draw", drawing=drawing, shots=20, steps=100, seed=1),
                characters(10, 5, 20, 2048, "maml")]
    points = {"headers": ["x", "y"], "data": [[-3, 1.2], [-1, -0.4], [0.5, 0.9], [2, -1.5], [4, 0.3]],
              "metadata": None}
    return [sinusoid(), sinusoid(algorithm="anil", amplitude=4.0, steps=20, seed=3),
            sinusoid(algorithm="fomaml", phase=2.5, delay=0.05, steps=5, seed=5),
            sinusoid(algorithm="reptile", steps=0), sinusoid(algorithm="blackbox", seed=7),
            sinusoid(source="click", points=points, steps=10),
            characters(3, 1, 3, 280, "maml"), characters(3, 1, 5, 280, "anil")]


def comparable(updates: list) -> list:
    """The streamed updates without what measures time (the device badge, the last output)."""
    return [json.dumps(list(update[:-1]), sort_keys=True) for update in updates]


DELAY_AT = {"sinusoid": 9, "characters": 6}  # where each request's delay sits among its arguments


def every_frame(request: dict) -> dict:
    """The request with a delay of demo.session.FRAME_S, at which every step gets its own update."""
    from demo.session import FRAME_S

    args = list(request["args"])
    args[DELAY_AT[request["kind"]]] = max(args[DELAY_AT[request["kind"]]], FRAME_S)
    return {**request, "args": args}


def isolated(seen: list[str], alone: list[str]) -> bool:
    """Whether a run's updates are those of the same request alone: a faster run shows fewer of the steps (the
    frames are paced by time), so its updates must be an in-order subset of the every-step run's, ending alike."""
    rest = iter(alone)
    return bool(seen) and seen[-1] == alone[-1] and all(update in rest for update in seen)


def difference(index: int, seen: list[str], alone: list[str]) -> str:
    """Where a request's updates first differ from the same request alone (for the report)."""
    at = next((i for i, update in enumerate(seen) if update not in alone), len(seen) - 1)
    a = json.loads(seen[at])
    b = max((json.loads(update) for update in alone), key=lambda u: sum(x == y for x, y in zip(a, u)))
    outputs = [j for j, (x, y) in enumerate(zip(a, b)) if x != y]
    return f"request {index}: update {at} of {len(seen)} differs in outputs {outputs}: {str(a[outputs[0]])[:150]}"


def run_one(client, request: dict) -> tuple[list, float, float]:
    """(every streamed update, seconds to the first, seconds to the last) of one request.

    A character request first empties the session's support set (it holds at most K examples
    per class), then adds its examples.
    """
    start = time.perf_counter()
    if request["kind"] == "characters":
        client.predict(request["args"][0], api_name="/clear_examples")
        for example in request["examples"]:
            client.predict(*example, api_name="/add_example")
        job = client.submit(*request["args"], api_name="/adapt_characters")
    else:
        job = client.submit(*request["args"], api_name="/adapt_sinusoid")
    first = None
    for _ in job:
        first = first or time.perf_counter() - start
    job.result(timeout=300)
    return job.outputs(), first or time.perf_counter() - start, time.perf_counter() - start


@contextlib.contextmanager
def server(threads: int, slots: int, runs: int) -> Iterator[tuple[str, int]]:
    """A server process as app.py runs it (`--serve`); yields (its URL, its pid)."""
    with socket.socket() as probe:  # a free local port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bench.load", "--serve", str(port), "--threads", str(threads),
                                "--slots", str(slots), "--runs", str(runs)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        assert process.stdout.readline().strip() == "ready", "the server did not start"
        yield f"http://127.0.0.1:{port}/", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(sessions: int, seconds: float, threads: int, slots: int, runs: int, mix: str,
            delay: float | None = None) -> dict:
    from gradio_client import Client

    with server(threads, slots, runs) as (url, pid):
        folder = Path(tempfile.mkdtemp(prefix="load-"))
        requests = requests_of(mix, folder, delay)
        alone = {}
        for index, request in enumerate(requests):  # each distinct request alone, for the isolation check
            client = Client(url, verbose=False)
            alone[index] = comparable(run_one(client, every_frame(request))[0])
        peak = {"rss": 0}
        stop_sampling = threading.Event()

        def sample() -> None:
            import psutil

            process = psutil.Process(pid)
            while not stop_sampling.is_set():
                peak["rss"] = max(peak["rss"], process.memory_info().rss)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results: list[dict] = []
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def session(number: int) -> None:
            client = Client(url, verbose=False)
            turn = number
            while time.perf_counter() < deadline:
                index = turn % len(requests)
                turn += 1
                try:
                    updates, first, last = run_one(client, requests[index])
                    seen = comparable(updates)
                    same = isolated(seen, alone[index])
                    row = {"first": first, "last": last, "error": None, "isolated": same,
                           "difference": None if same else difference(index, seen, alone[index])}
                except Exception as error:  # noqa: BLE001 -- counted and reported
                    row = {"first": None, "last": None, "error": f"{type(error).__name__}: {error}"[:200],
                           "isolated": True}
                with lock:
                    results.append(row)

        workers = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - started
        stop_sampling.set()
        sampler.join()
    done = [r for r in results if r["error"] is None]

    def quantiles(key: str) -> dict:
        values = sorted(r[key] for r in done)
        if not values:
            return {"p50": None, "p95": None}
        return {"p50": round(statistics.median(values), 3), "p95": round(values[int(0.95 * (len(values) - 1))], 3)}

    return {"sessions": sessions, "seconds": seconds, "threads": threads, "slots": slots, "runs": runs, "mix": mix,
            "delay": delay,
            "requests": len(results), "done": len(done), "errors": len(results) - len(done),
            "error_examples": sorted({r["error"] for r in results if r["error"]})[:5],
            "mismatches": sum(not r["isolated"] for r in results),
            "mismatch_examples": [r["difference"] for r in results if not r["isolated"]][:5], "wall_s": round(wall, 1),
            "requests_per_s": round(len(done) / wall, 2), "first_update_s": quantiles("first"),
            "last_update_s": quantiles("last"), "peak_rss_mb": round(peak["rss"] / 2**20)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: the app's)")
    parser.add_argument("--slots", type=int, default=None, help="steps computing at once (default: the app's)")
    parser.add_argument("--runs", type=int, default=None, help="runs streaming at once (default: the app's)")
    parser.add_argument("--mix", choices=("classroom", "worst"), default="classroom")
    parser.add_argument("--delay", type=float, default=None,
                        help="seconds per step for every request, as the page's slider (default: each request's own)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args(argv)
    from demo.serving import COMPUTE_SLOTS, OPEN_RUNS, TORCH_THREADS

    threads, slots, runs = args.threads or TORCH_THREADS, args.slots or COMPUTE_SLOTS, args.runs or OPEN_RUNS
    if args.serve:
        serve_forever(args.serve, threads, slots, runs)
        return 0
    report = measure(args.sessions, args.seconds, threads, slots, runs, args.mix, args.delay)
    print(json.dumps(report, indent=1))
    return 0 if report["errors"] == 0 and report["mismatches"] == 0 and report["done"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
