"""How many API calls a Vertex AI plan makes, by the number of jobs in the stack.

Run: `.venv/bin/python bench/vertex_calls.py [--jobs 100 500 2000]`. Each size
plans a stack of N TrainingJobs, all trained before (finished jobs in the
fake Vertex server of tests/fake_gcp, 100 per page as the backend asks),
and counts the requests by method. Calls should grow with pages, never with
one request per job.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_gcp.scale import plan_calls
from tests.fake_gcp.server import FakeGcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 500, 2000])
    args = parser.parse_args()
    print(f"{'jobs':>6} | {'calls':>5} | by method")
    for jobs in args.jobs:
        fake = FakeGcp()
        fake.max_page = 100
        with fake.running() as url, tempfile.TemporaryDirectory() as temp:
            os.environ.update(
                MLAPPLY_AIPLATFORM_ENDPOINT=url,
                MLAPPLY_STORAGE_ENDPOINT=url,
                MLAPPLY_GCP_ANONYMOUS="1",
            )
            calls, pending = plan_calls(fake, Path(temp), jobs)
        assert pending == 0, f"{pending} changes pending"
        shown = ", ".join(
            f"{m.rsplit('.', 2)[-2]}.{m.rsplit('.', 1)[-1]} {n}" for m, n in sorted(calls.items())
        )
        print(f"{jobs:>6} | {sum(calls.values()):>5} | {shown}")


if __name__ == "__main__":
    main()
