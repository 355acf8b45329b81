"""How long `python app.py` takes to serve: seconds from process start to the first HTTP 200.

    python -m bench.startup [--runs 3] [--against REV] [--json]

Each run starts app.py on a free port, polls "/" every 50 ms, and stops it at the first 200. Target:
under 5 s to the first 200. Also, from a second start: the seconds until a `gradio_client` that
connects at the first 200 has the result of a 10-step sinusoid Adapt (the engine loads meanwhile).
For scale, on the same machine and in the same rounds: a Gradio app of one Markdown block started
the same way (the floor Gradio itself sets), and `import gradio`, `import torch` and `import demo`
each in a fresh interpreter. `--against REV` also starts the app.py of an earlier commit (checked
out into a temporary git worktree) in every round.
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
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = [sys.executable, "app.py"]
# the least a Gradio app is: one block, launched as app.py launches (GRADIO_SERVER_* name the address)
ONE_BLOCK = [sys.executable, "-c", "import gradio as gr\nwith gr.Blocks() as app:\n    gr.Markdown('one block')\n"
             "app.launch()"]
# /adapt_sinusoid's inputs: a sine wave, MAML, 10 steps at delay 0
ADAPT = ["sine", 2.0, 1.0, 5, None, {"headers": ["x", "y"], "data": [], "metadata": None}, "maml", 0.01, 10, 0.0, 0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def started(command: list[str], cwd: Path = ROOT):
    """Start `command` (a Gradio server) on a free port; yield (its address, a clock started with it)."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/", lambda: time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_200(url: str, clock) -> float:
    """The clock's reading at the first HTTP 200 of `url` (polled every 50 ms, for at most 120 s)."""
    while clock() < 120:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return clock()
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within 120 s")


def first_200(command: list[str], cwd: Path = ROOT) -> float:
    """Seconds from starting `command` (a Gradio server) to its first HTTP 200 on "/"."""
    with started(command, cwd) as (url, clock):
        return wait_for_200(url, clock)


def first_adapt(cwd: Path = ROOT) -> float:
    """Seconds from starting app.py to a client's first Adapt result, the client connecting at the first 200."""
    from gradio_client import Client

    with started(APP, cwd) as (url, clock):
        wait_for_200(url, clock)
        Client(url, verbose=False).predict(*ADAPT, api_name="/adapt_sinusoid")
        return clock()


def import_seconds(module: str) -> float:
    """Seconds for a fresh interpreter to import `module` and exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, check=True)
    return time.perf_counter() - start


def measure(runs: int, against: str | None) -> dict:
    """`runs` interleaved rounds of every measurement, so that each round shares the machine's load."""
    with contextlib.ExitStack() as stack:
        earlier = None
        if against:
            earlier = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "earlier"
            subprocess.run(["git", "worktree", "add", "--detach", str(earlier), against], cwd=ROOT, check=True,
                           capture_output=True)
            stack.callback(subprocess.run, ["git", "worktree", "remove", "--force", str(earlier)], cwd=ROOT,
                           capture_output=True)
            subprocess.run([sys.executable, "-c", "import demo"], cwd=earlier, check=True)  # its bytecode written
        rounds = []
        for _ in range(runs):
            row = {"import_gradio_s": import_seconds("gradio"), "import_torch_s": import_seconds("torch"),
                   "import_demo_s": import_seconds("demo"), "one_block_first_200_s": first_200(ONE_BLOCK),
                   "first_200_s": first_200(APP), "first_adapt_s": first_adapt()}
            if earlier:
                row["earlier_first_200_s"] = first_200(APP, earlier)
                row["earlier_first_adapt_s"] = first_adapt(earlier)
            rounds.append(row)
    result = {key: [row[key] for row in rounds] for key in rounds[0]}
    result["median_first_200_s"] = statistics.median(result["first_200_s"])
    return {"against": against, **result}


NAMES = {"import_gradio_s": "import gradio", "import_torch_s": "import torch", "import_demo_s": "import demo",
         "one_block_first_200_s": "a one-block Gradio app's first HTTP 200", "first_200_s": "app.py's first HTTP 200",
         "first_adapt_s": "app.py's first Adapt result (a client connecting at the first 200)",
         "earlier_first_200_s": "the earlier commit's first HTTP 200",
         "earlier_first_adapt_s": "the earlier commit's first Adapt result"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="REV", help="an earlier commit to start in the same rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.runs, args.against)
    for key, name in NAMES.items():
        if key in result:
            print(f"{name}: {', '.join(f'{s:.2f}' for s in result[key])} s", file=sys.stderr)
    print(f"median first HTTP 200 of app.py: {result['median_first_200_s']:.2f} s (target < 5 s)", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
