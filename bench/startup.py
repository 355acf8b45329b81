"""How long `python app.py` takes to serve: seconds from process start to the first HTTP 200.

    python -m bench.startup [--runs 3] [--json]

Each run starts app.py on a free port, polls "/" every 50 ms, and stops it at the first 200. Also
times `import demo` alone (gradio, torch and the app's modules) in a fresh interpreter. Target:
under 5 s to the first 200.
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_200() -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("app.py did not answer within 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import demo"], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    imports = [import_seconds() for _ in range(args.runs)]
    serves = [first_200() for _ in range(args.runs)]
    result = {"import_demo_s": imports, "first_200_s": serves, "median_first_200_s": statistics.median(serves)}
    print(f"import demo: {', '.join(f'{s:.2f}' for s in imports)} s; first HTTP 200: "
          f"{', '.join(f'{s:.2f}' for s in serves)} s (median {result['median_first_200_s']:.2f} s)", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
