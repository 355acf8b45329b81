"""How long `python app.py` takes to serve: seconds from process start to the first HTTP 200.

    python -m bench.startup [--runs 3] [--json]

Each run starts app.py on a free port, polls "/" every 50 ms, and stops it at the first 200. Target:
under 5 s to the first 200. For scale, on the same machine and in the same rounds: a Gradio app of
one Markdown block started the same way (the floor Gradio itself sets), and `import gradio`,
`import torch` and `import demo` (gradio, torch and the app's modules) each in a fresh interpreter.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = [sys.executable, "app.py"]
# the least a Gradio app is: one block, launched as app.py launches (GRADIO_SERVER_* name the address)
ONE_BLOCK = [sys.executable, "-c", "import gradio as gr\nwith gr.Blocks() as app:\n    gr.Markdown('one block')\n"
             "app.launch()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_200(command: list[str]) -> float:
    """Seconds from starting `command` (a Gradio server) to its first HTTP 200 on "/"."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{command[-1]!r} did not answer within 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def import_seconds(module: str) -> float:
    """Seconds for a fresh interpreter to import `module` and exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rounds = [{"import_gradio_s": import_seconds("gradio"), "import_torch_s": import_seconds("torch"),
               "import_demo_s": import_seconds("demo"), "one_block_first_200_s": first_200(ONE_BLOCK),
               "first_200_s": first_200(APP)} for _ in range(args.runs)]  # interleaved, so each round shares a load
    result = {key: [row[key] for row in rounds] for key in rounds[0]}
    result["median_first_200_s"] = statistics.median(result["first_200_s"])
    for key, name in (("import_gradio_s", "import gradio"), ("import_torch_s", "import torch"),
                      ("import_demo_s", "import demo"), ("one_block_first_200_s", "a one-block Gradio app's first "
                                                                                  "HTTP 200"),
                      ("first_200_s", "app.py's first HTTP 200")):
        print(f"{name}: {', '.join(f'{s:.2f}' for s in result[key])} s", file=sys.stderr)
    print(f"median first HTTP 200 of app.py: {result['median_first_200_s']:.2f} s (target < 5 s)", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
