"""Soak: 1,000 sinusoid and 100 character requests against one server; its memory must not creep.

    python -m bench.soak [--sinusoid 1000] [--characters 100] [--sessions 4]

The server runs as app.py does, in its own process (bench.load's). SESSIONS clients send the
requests of bench.load's classroom mix, ten sinusoid requests to each character request, every
update read. The server's RSS is read after the first 100 requests and at the end; the soak
passes when the end is within 10% of that level (and every request succeeded). Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.load import requests_of, run_one, server
from demo.serving import COMPUTE_SLOTS, OPEN_RUNS, TORCH_THREADS

WARM = 100  # requests before the reference RSS is read
TOLERANCE = 0.10


def soak(sinusoid: int, characters: int, sessions: int) -> dict:
    import psutil
    from gradio_client import Client

    with server(TORCH_THREADS, COMPUTE_SLOTS, OPEN_RUNS) as (url, pid):
        process = psutil.Process(pid)
        requests = requests_of("classroom", Path(tempfile.mkdtemp(prefix="soak-")))
        kinds = {"sinusoid": [r for r in requests if r["kind"] == "sinusoid"],
                 "characters": [r for r in requests if r["kind"] == "characters"]}
        plan = [kinds["sinusoid"][i % len(kinds["sinusoid"])] for i in range(sinusoid)]
        for i in range(characters):  # one character request after every ten sinusoid ones
            plan.insert(min(len(plan), 11 * i + 10), kinds["characters"][i % len(kinds["characters"])])
        queue = iter(enumerate(plan))
        lock = threading.Lock()
        done, errors, rss = [0], [], {}
        started = time.perf_counter()

        def session() -> None:
            client = Client(url, verbose=False)
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                try:
                    run_one(client, item[1])
                except Exception as error:  # noqa: BLE001 -- counted and reported
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}"[:200])
                with lock:
                    done[0] += 1
                    if done[0] == WARM:
                        rss["after_warm_up"] = process.memory_info().rss

        workers = [threading.Thread(target=session) for _ in range(sessions)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        time.sleep(2)  # let the last responses go out
        rss["end"] = process.memory_info().rss
    growth = rss["end"] / rss["after_warm_up"] - 1
    return {"sinusoid": sinusoid, "characters": characters, "sessions": sessions, "requests": done[0],
            "errors": len(errors), "error_examples": sorted(set(errors))[:5],
            "wall_s": round(time.perf_counter() - started, 1),
            "rss_after_first_100_mb": round(rss["after_warm_up"] / 2**20, 1),
            "rss_end_mb": round(rss["end"] / 2**20, 1),
            "growth": round(growth, 4), "within_10_percent": abs(growth) <= TOLERANCE}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sinusoid", type=int, default=1000)
    parser.add_argument("--characters", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=4)
    args = parser.parse_args(argv)
    if args.sinusoid + args.characters <= WARM:
        parser.error(f"the soak needs more than {WARM} requests")
    report = soak(args.sinusoid, args.characters, args.sessions)
    print(json.dumps(report, indent=1))
    return 0 if report["errors"] == 0 and report["within_10_percent"] else 1


if __name__ == "__main__":
    sys.exit(main())
