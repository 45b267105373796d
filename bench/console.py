"""How fast the console answers and draws a stack of many jobs.

Run: `.venv/bin/python bench/console.py [--jobs 100] [--samples 300]`.
Records N finished jobs in a real store (each with a chief's CPU and memory
series), starts `mlapply console`, times `GET /api/jobs` (read afresh from the
store, and within the second the console keeps a read) and the selected
job's usage, then loads the page in Debian's Chromium (Playwright) and times
it until every job's row is drawn and the selected job's charts have points.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.backends.base import JobState, LiveJob  # noqa: E402 (after the path)
from reconciler.backends.local.store import LocalStore  # noqa: E402
from reconciler.stack.resources import LABEL_HASH, LABEL_NAME, LABEL_STACK  # noqa: E402

STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: many}
"""


def record(home: Path, jobs: int, samples: int) -> None:
    store = LocalStore(home, create=True)
    now = time.time()
    for n in range(jobs):
        name = f"job{n:03d}_{n:08x}"
        labels = {LABEL_STACK: "many", LABEL_NAME: f"job{n:03d}", LABEL_HASH: f"{n:08x}"}
        job = LiveJob(name, labels, JobState.SUCCEEDED, now - 3600 + n, now - 3500 + n, now)
        store.put_job(job, mean_cpu=0.9, peak_rss_bytes=2**28)
        points = [("chief-0", now - 3500 + 2 * t, 0.9, 2**28) for t in range(samples)]
        store.add_samples(name, points)
    store.close()


def timed_get(url: str, runs: int = 10, pause: float = 0.0) -> float:
    times = []
    for _ in range(runs):
        time.sleep(pause)
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as answer:
            answer.read()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / ".git").mkdir()
        (root / "m").mkdir()
        (root / "m" / "stack.yaml").write_text(textwrap.dedent(STACK).lstrip())
        record(root / "m" / ".mlapply", args.jobs, args.samples)
        console = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "console", str(root / "m"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert console.stdout is not None
            url = console.stdout.readline().split(" on ", 1)[1].split("/ ", 1)[0]
            jobs = timed_get(f"{url}/api/jobs")
            # The live state is read again at most once a second, however many pages.
            fresh = timed_get(f"{url}/api/jobs", runs=5, pause=1.2)
            usage = timed_get(f"{url}/api/jobs/job099_00000063/usage")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                loads = []
                for _ in range(5):
                    page = browser.new_page(bypass_csp=True)
                    start = time.perf_counter()
                    page.goto(url + "/")
                    page.wait_for_function(
                        f"document.querySelectorAll('#jobs tbody tr').length === {args.jobs}"
                        " && Number(document.querySelector('#cpu-chart').dataset.points) > 0"
                    )
                    loads.append(time.perf_counter() - start)
                    page.close()
                browser.close()
        finally:
            console.terminate()
            console.wait()
    print(f"{args.jobs} jobs, {args.samples} samples each")
    print(f"  GET /api/jobs, read afresh (median of 5) {fresh * 1000:6.1f} ms")
    print(f"  GET /api/jobs (median of 10)            {jobs * 1000:7.1f} ms")
    print(f"  GET /api/jobs/JOB/usage (median of 10)  {usage * 1000:7.1f} ms")
    print(f"  page drawn in Chromium (median of 5)    {statistics.median(loads) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
