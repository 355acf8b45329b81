"""How a run streams in a real browser: Debian's Chromium (Playwright) on the app served in this process.

    python -m bench.browser_streaming [--steps 100] [--json]

A fresh page opens the Sinusoid tab, sets S and delay 0, and presses Adapt twice: the first run
(the page's first plot) and a second one. For each run: the seconds from the click to "Done" on the
page, and the longest main-thread task a PerformanceObserver of long tasks saw meanwhile (the
browser reports tasks over 50 ms; 0 means none). Targets: 100 steps in under 5 s, no task over
200 ms, the first run included.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from demo import build_app
from tests.browser import FLAGS
from tests.demo_fixtures import served

OBSERVER = """
window.__longTasks = [];
new PerformanceObserver((list) => { for (const entry of list.getEntries())
    window.__longTasks.push({start: entry.startTime, duration: entry.duration}); })
  .observe({type: "longtask", buffered: true});
"""


def run_once(page, steps: int) -> dict:
    """Click Adapt and wait for Done: seconds, and the longest task (ms) from the click on."""
    since = page.evaluate("""() => { window.__stepSeen = false;
        const status = document.querySelector('#sinusoid-status');
        window.__statusObserver?.disconnect();
        window.__statusObserver = new MutationObserver(() => {
            if (status.innerText.includes('Step ')) window.__stepSeen = true; });
        window.__statusObserver.observe(status, {subtree: true, childList: true, characterData: true});
        return performance.now(); }""")
    start = time.perf_counter()
    page.locator("#sinusoid-adapt").click()
    page.wait_for_function(f"window.__stepSeen && document.querySelector('#sinusoid-status').innerText"
                           f".includes('Done: {steps} step')", timeout=120_000, polling="raf")
    seconds = time.perf_counter() - start
    time.sleep(0.3)  # the last figures' drawing is a task too
    tasks = page.evaluate("(since) => window.__longTasks.filter(t => t.start >= since).map(t => t.duration)", since)
    return {"seconds": seconds, "longest_task_ms": max(tasks, default=0.0), "long_tasks": len(tasks)}


def measure(steps: int) -> dict:
    from playwright.sync_api import sync_playwright

    with served(build_app()) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.add_init_script(OBSERVER)
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#sinusoid-adapt", timeout=60_000)
        loaded = time.perf_counter() - start
        page.wait_for_timeout(1000)  # the page settles, as a person reads it first
        page.locator("#sinusoid-steps input[type='number']").fill(str(steps))
        page.locator("#sinusoid-steps input[type='number']").press("Enter")
        page.locator("#sinusoid-delay input[type='number']").fill("0")
        page.locator("#sinusoid-delay input[type='number']").press("Enter")
        first = run_once(page, steps)
        second = run_once(page, steps)
        browser.close()
    return {"steps": steps, "page_load_s": loaded, "first_run": first, "second_run": second}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.browser_streaming", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.steps)
    for name in ("first_run", "second_run"):
        row = result[name]
        print(f"{name}: {args.steps} steps in {row['seconds']:.2f} s, longest task {row['longest_task_ms']:.0f} ms "
              f"({row['long_tasks']} over 50 ms)", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
