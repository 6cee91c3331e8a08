"""The bad-input suite as a table: each hostile case's outcome, time and process peak memory.

The issue's targets: every case refused with a clear message, under 10 s and with the
process's peak memory under 1 GB. The tests (tests/unit/test_hostile.py) assert the message,
the memory and that nothing was written; the time target is checked here, not in a test.
Run: python bench/hostile.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table  # noqa: E402
from tests.unit import hostile_cases as H  # noqa: E402

TIME_TARGET_S, PEAK_TARGET_MB = 10.0, 1024.0


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        H.build(root)
        built = time.perf_counter() - t0
        records = H.run_worker(root)
        total = time.perf_counter() - t0
    warm = records.pop("_worker")["warm_peak_mb"]
    rows, fails = [], 0
    for case in H.CASES:
        r = records[case.id]
        ok = r["outcome"] == "refused" and r["seconds"] < TIME_TARGET_S and r["peak_mb"] < PEAK_TARGET_MB
        fails += not ok
        rows.append([case.id, case.channel, r["outcome"], f"{r['seconds']:.2f}", f"{r['peak_mb']:.0f}",
                     "PASS" if ok else "FAIL", (r.get("message") or r.get("traceback", ""))[:90]])
    print_table(f"Hostile inputs: {len(rows)} cases (targets: refused, < {TIME_TARGET_S:g} s, peak < "
                f"{PEAK_TARGET_MB:g} MB); worker peak after imports {warm:.0f} MB; build {built:.1f} s, "
                f"total {total:.1f} s; load {os.getloadavg()[0]:.1f}",
                ["case", "channel", "outcome", "s", "peak MB", "", "message"], rows)
    print(f"\n{len(rows) - fails}/{len(rows)} PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
