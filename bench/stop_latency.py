"""How soon Stop takes effect in a real browser, alone and while other sessions load the server.

    python -m bench.stop_latency [--sessions 8] [--tries 3] [--load-nice 10] [--json]

The app is served in its own process, as bench.load serves it (the app's threads, slots and open
runs). Chromium (Playwright) starts a 100-step sinusoid run at a delay of 0.5 s, waits for step 2
and clicks Stop: --tries times alone, then --tries times under --sessions gradio_client sessions that
connect all at once and run 20-step sinusoid runs at delay 0 back to back (the load test's classroom
kind of request): the first Stop 2 s after they start, while they connect, the next back to back
(each run may first wait in the queue) as their load ramps up and goes on. The load runs
in a process of its own, as a class's clients run on machines of their own, so it does not slow
the process that drives the browser, and at a lower CPU priority (--load-nice, default 10): the
clients' own work (30 gradio_clients reading the app's config and API, parsing their streams) is
not the server's, and on a machine of two cores it would otherwise take the server's CPU. The
server gets the same requests either way (about as many runs are served); --load-nice 0 gives
the load the server's priority.

Timed in the page: from the click event on Stop to the first animation frame after the status
says "Stopped" (what a person sees). Also reported: the same span as the driver sees it, from
Playwright's click call (which first checks the button is visible, stable and not covered) until
it reads the status, the time until the run's own last update ("Done:", with the path plot), and
the longest task of the page's own during the span (its plots redrawing a frame, say), which tells a
busy page from a slow answer. Target: under 0.5 s in the page.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from bench.load import ROOT, server
from demo.serving import COMPUTE_SLOTS, OPEN_RUNS, TORCH_THREADS
from tests.browser import FLAGS

LOAD_NICE = 10  # the load's own CPU work yields to the server's and the browser's (see the docstring)

WATCH_STOP = """() => {
    const status = document.querySelector('#sinusoid-status');
    window.stopTimes = {};
    performance.clearResourceTimings();  // the buffer keeps 250 entries, and the Stop request's must fit
    window.stopTasks = [];  // the page's long tasks (over 50 ms), to tell a busy page from a slow answer
    if (window.stopTaskObserver) window.stopTaskObserver.disconnect();
    window.stopTaskObserver = new PerformanceObserver(list => window.stopTasks.push(
        ...list.getEntries().map(entry => [entry.startTime, entry.duration])));
    window.stopTaskObserver.observe({type: 'longtask'});
    document.querySelector('#sinusoid-stop').addEventListener('click', () => {
        window.stopTimes.clicked = performance.now();
    }, {capture: true, once: true});
    const observer = new MutationObserver(() => {
        if (status.innerText.includes('Stopped') && window.stopTimes.clicked !== undefined) {
            observer.disconnect();
            requestAnimationFrame(() => { window.stopTimes.shown = performance.now(); });
        }
    });
    observer.observe(status, {childList: true, subtree: true, characterData: true});
}"""


def sinusoid(steps: int, delay: float) -> list:
    return ["sine", 2.0, 1.0, 5, None, {"headers": ["x", "y"], "data": [], "metadata": None}, "maml", 0.01, steps,
            delay, 0]


STREAMING = """() => {
    const step = /Step (\\d+) of 100/.exec(document.querySelector('#sinusoid-status').innerText);
    return step !== null && Number(step[1]) >= 2;
}"""


def start_run(page) -> None:
    """Click Adapt and wait until the run shows step 2 or later (under load the run may first wait in the queue,
    and a step can go by between two checks). A click that comes before the page has heard that the last run is
    over is dropped (Gradio's trigger mode 'once'), so while the status still shows that run's end, click
    again."""
    deadline = time.perf_counter() + 120
    page.locator("#sinusoid-adapt").click()
    while True:
        try:
            page.wait_for_function(STREAMING, timeout=10_000, polling="raf")
            return
        except Exception:
            status = page.locator("#sinusoid-status").inner_text()
            if time.perf_counter() > deadline:
                print("status:", status, file=sys.stderr)
                page.screenshot(path="/tmp/stop_latency_failure.png")
                raise
            if "Done:" in status:
                page.locator("#sinusoid-adapt").click()


def stop_run(page) -> dict:
    """Click Stop; seconds until the status says "Stopped", in the page and as the driver sees it, and until the
    run's last update."""
    page.evaluate(WATCH_STOP)
    start = time.perf_counter()
    page.locator("#sinusoid-stop").click()
    page.wait_for_function("window.stopTimes.shown !== undefined", timeout=60_000, polling="raf")
    seen = time.perf_counter() - start
    page.wait_for_function("document.querySelector('#sinusoid-status').innerText.includes('Done:')",
                           timeout=60_000, polling="raf")  # the run's own last update, with the path plot
    done = time.perf_counter() - start
    times = page.evaluate("""() => {
        const request = performance.getEntriesByType('resource').filter(
            entry => entry.name.includes('/run/predict') && entry.startTime >= window.stopTimes.clicked)[0];
        const during = window.stopTasks.filter(([start, duration]) =>
            start < window.stopTimes.shown && start + duration > window.stopTimes.clicked);
        return {...window.stopTimes, sent: request ? request.startTime : null, answered: request ? request.responseEnd : null,
                longest_task: Math.max(0, ...during.map(([, duration]) => duration))};
    }""")
    span = {"page_s": (times["shown"] - times["clicked"]) / 1000, "driver_s": seen, "last_update_s": done,
            "longest_page_task_s": times["longest_task"] / 1000}  # of the page's tasks during the span
    if times["sent"] is not None:  # where the time went: the page sending, the server answering, the page drawing
        span.update(to_send_s=(times["sent"] - times["clicked"]) / 1000,
                    server_s=(times["answered"] - times["sent"]) / 1000,
                    to_draw_s=(times["shown"] - times["answered"]) / 1000)
    return span


def load(url: str, sessions: int) -> None:
    """--sessions gradio_client sessions sending 20-step runs back to back until stdin closes. Prints 'connected'
    once every session has connected, and at the end 'runs failed' (with the first failure, if any, on stderr)."""
    from gradio_client import Client

    runs = {"count": 0, "failed": 0}
    done = threading.Event()
    connected = threading.Barrier(sessions + 1)

    def session() -> None:
        client = Client(url, verbose=False)
        connected.wait()
        while not done.is_set():
            try:
                client.predict(*sinusoid(20, 0.0), api_name="/adapt_sinusoid")
                runs["count"] += 1
            except Exception as error:  # noqa: BLE001 - counted: a refused or failed load request
                runs["failed"] += 1
                if runs["failed"] == 1:
                    print(f"a load request failed: {type(error).__name__}: {error}"[:300], file=sys.stderr)

    threads = [threading.Thread(target=session, daemon=True) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    connected.wait()
    print("connected", flush=True)
    sys.stdin.read()
    done.set()
    for thread in threads:
        thread.join(timeout=120)
    print(runs["count"], runs["failed"], flush=True)


@contextmanager
def loading(url: str, sessions: int, nice: int = LOAD_NICE):
    """The load process, at CPU priority `nice`, while the block runs. Yields a dict whose 'connected' Event is set once every session
    has connected, and which gets the 'runs' and 'failed' counts at the end."""
    process = subprocess.Popen([sys.executable, "-m", "bench.stop_latency", "--load", url, "--sessions",
                                str(sessions)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: os.nice(nice))
    counts = {"connected": threading.Event()}

    def read() -> None:
        for line in process.stdout:
            if line.strip() == "connected":
                counts["connected"].set()
            else:
                counts["runs"], counts["failed"] = map(int, line.split())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield counts
    finally:
        process.stdin.close()
        process.wait(timeout=180)
        reader.join(timeout=10)


def measure(sessions: int, tries: int, load_nice: int = LOAD_NICE) -> dict:
    from playwright.sync_api import sync_playwright

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
        start_run(page)  # the run is streaming; then the other sessions arrive
        with loading(url, sessions, load_nice) as counts:
            began = time.perf_counter()
            time.sleep(2)
            for _ in range(tries):  # the first while they connect; the next runs start under the load
                if loaded:
                    start_run(page)  # (they may wait in the queue)
                connected = counts["connected"].is_set()  # each session has asked for the app's config and API
                loaded.append({**stop_run(page), "after_s": time.perf_counter() - began, "all_connected": connected})
        browser.close()
    page_times = [row["page_s"] for row in alone + loaded]
    return {"alone": alone, "under_load": loaded, "sessions": sessions, "load_nice": load_nice, "load_runs": counts["runs"],
            "load_runs_failed": counts["failed"],
            "median_alone_s": statistics.median(row["page_s"] for row in alone),
            "median_under_load_s": statistics.median(row["page_s"] for row in loaded), "worst_s": max(page_times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stop_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--load-nice", type=int, default=LOAD_NICE,
                        help=f"CPU priority of the load process (default {LOAD_NICE}; 0: the same as the server's)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)  # the load process's own entry
    args = parser.parse_args(argv)
    if args.load:
        load(args.load, args.sessions)
        return 0
    result = measure(args.sessions, args.tries, args.load_nice)

    def seconds(rows: list[dict], key: str) -> str:
        return ", ".join(f"{row[key]:.2f}" if key in row else "?" for row in rows)

    print(f"Stop showed in the page {seconds(result['alone'], 'page_s')} s after the click alone, and "
          f"{seconds(result['under_load'], 'page_s')} s with {args.sessions} sessions loading the server "
          f"({sum(not row['all_connected'] for row in result['under_load'])} of them before all had connected) "
          f"({result['load_runs']} runs meanwhile, {result['load_runs_failed']} failed); the server's part of it: "
          f"{seconds(result['under_load'], 'server_s')} s. As the driver saw it: "
          f"{seconds(result['alone'], 'driver_s')} s and {seconds(result['under_load'], 'driver_s')} s. The run's "
          f"last update: {seconds(result['alone'], 'last_update_s')} s and "
          f"{seconds(result['under_load'], 'last_update_s')} s.", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
