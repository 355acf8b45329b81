"""How soon Stop takes effect in a real browser, alone and while other sessions load the server.

    python -m bench.stop_latency [--sessions 8] [--tries 3] [--json]

The app is served in its own process, as bench.load serves it (the app's threads, slots and open
runs). Chromium (Playwright) starts a 100-step sinusoid run at a delay of 0.5 s, waits for step 2,
clicks Stop and times the click until the status says "Stopped": --tries times alone, then --tries
times with --sessions gradio_client sessions arriving once the run streams, running 20-step
sinusoid runs at delay 0 back to back (the load test's classroom kind of request). Target: under
0.5 s.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time

from bench.load import server
from demo.serving import COMPUTE_SLOTS, OPEN_RUNS, TORCH_THREADS
from tests.browser import FLAGS


def sinusoid(steps: int, delay: float) -> list:
    return ["sine", 2.0, 1.0, 5, None, {"headers": ["x", "y"], "data": [], "metadata": None}, "maml", 0.01, steps,
            delay, 0]


def start_run(page) -> None:
    page.locator("#sinusoid-adapt").click()
    try:
        page.wait_for_function("document.querySelector('#sinusoid-status').innerText.includes('Step 2 of 100')",
                               timeout=120_000, polling="raf")
    except Exception:
        print("status:", page.locator("#sinusoid-status").inner_text(), "steps:",
              page.locator("#sinusoid-steps input[type='number']").input_value(), file=sys.stderr)
        page.screenshot(path="/tmp/stop_latency_failure.png")
        raise


def stop_run(page) -> float:
    """Click Stop; seconds until the status says the run stopped."""
    start = time.perf_counter()
    page.locator("#sinusoid-stop").click()
    page.wait_for_function("document.querySelector('#sinusoid-status').innerText.includes('Stopped')",
                           timeout=60_000, polling="raf")
    seconds = time.perf_counter() - start
    page.wait_for_function("document.querySelector('#sinusoid-status').innerText.includes('Done:')",
                           timeout=60_000, polling="raf")  # the run's own last update, with the path plot
    return seconds


def measure(sessions: int, tries: int) -> dict:
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    runs = {"count": 0, "failed": 0}
    with server(TORCH_THREADS, COMPUTE_SLOTS, OPEN_RUNS) as (url, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_selector("#sinusoid-adapt", timeout=60_000)
        page.wait_for_timeout(1500)  # the page settles before its sliders are set
        for selector, value in (("#sinusoid-steps", 100), ("#sinusoid-delay", 0.5)):
            page.locator(f"{selector} input[type='number']").fill(str(value))
            page.locator(f"{selector} input[type='number']").press("Enter")
        alone, loaded = [], []
        for _ in range(tries):
            start_run(page)
            alone.append(stop_run(page))
        for _ in range(tries):
            start_run(page)  # the run is streaming; then the other sessions arrive
            done = threading.Event()

            def load() -> None:
                client = Client(url, verbose=False)
                while not done.is_set():
                    try:
                        client.predict(*sinusoid(20, 0.0), api_name="/adapt_sinusoid")
                        runs["count"] += 1
                    except Exception:  # noqa: BLE001 - counted: a refused or failed load request
                        runs["failed"] += 1

            threads = [threading.Thread(target=load, daemon=True) for _ in range(sessions)]
            for thread in threads:
                thread.start()
            time.sleep(5)  # the load is under way
            loaded.append(stop_run(page))
            done.set()
            for thread in threads:
                thread.join(timeout=120)
        browser.close()
    return {"alone_s": alone, "under_load_s": loaded, "sessions": sessions, "load_runs": runs["count"],
            "load_runs_failed": runs["failed"], "median_alone_s": statistics.median(alone),
            "median_under_load_s": statistics.median(loaded), "worst_s": max(alone + loaded)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stop_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.sessions, args.tries)
    print(f"Stop took {', '.join(f'{s:.2f}' for s in result['alone_s'])} s alone and "
          f"{', '.join(f'{s:.2f}' for s in result['under_load_s'])} s with {args.sessions} sessions loading the "
          f"server ({result['load_runs']} runs meanwhile, {result['load_runs_failed']} failed)", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
