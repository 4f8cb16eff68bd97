"""Time the page pipeline and measure its corner accuracy on simulated 12 MP captures.

Not a test (tests never assert timings): run it by hand on the target machine,

    .venv/bin/python bench/pipeline_timing.py --frames 20 --width 4000 --height 3000

and it prints the median/max time of ``make_preview`` and ``process_page``, the per-stage
medians, the corner error against the simulator's truth (as % of the page diagonal) and how
each defect scenario was judged.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from drivers.camera.sim import SimCamera
from firmware.config import PipelineConfig
from firmware.pipeline import make_preview, process_page

DEFECTS = ["blurred", "glare", "dark", "cut_off", "blank", "no_page", "hand", "black", "corrupt"]


def _median_stages(runs: list[dict[str, float]]) -> str:
    keys = sorted({k for r in runs for k in r}, key=lambda k: (k == "total", k))
    return "  ".join(
        f"{k}={statistics.median(r.get(k, 0.0) for r in runs) * 1000:.0f}" for k in keys
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="good captures to time")
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--page-runs", type=int, default=5, help="process_page runs (slower)")
    args = ap.parse_args()
    cfg = PipelineConfig()

    cam = SimCamera(seed=args.seed, width=args.width, height=args.height, pages_per_doc=1)
    cam.open()
    frames = [cam.capture() for _ in range(args.frames)]
    make_preview(frames[0].jpeg, cfg)  # warm up OpenCV's lazy initialisation

    prev_t, prev_stages, errors, misses = [], [], [], 0
    for f in frames:
        t0 = time.perf_counter()
        res = make_preview(f.jpeg, cfg)
        prev_t.append(time.perf_counter() - t0)
        prev_stages.append(res.timings)
        truth = np.asarray(f.truth["corners"], np.float64)
        if res.quad is None:
            misses += 1
            continue
        diag = np.linalg.norm(truth[2] - truth[0])
        errors.extend(np.linalg.norm(res.quad - truth, axis=1) / diag * 100)
    page_t, page_stages = [], []
    for f in frames[: args.page_runs]:
        t0 = time.perf_counter()
        page = process_page(f.jpeg, cfg)
        page_t.append(time.perf_counter() - t0)
        page_stages.append(page.timings)

    print(f"{args.frames} frames {args.width}x{args.height}")
    print(
        f"make_preview  median {statistics.median(prev_t) * 1000:.0f} ms, "
        f"max {max(prev_t) * 1000:.0f} ms   [{_median_stages(prev_stages)}]"
    )
    print(
        f"process_page  median {statistics.median(page_t) * 1000:.0f} ms, "
        f"max {max(page_t) * 1000:.0f} ms   [{_median_stages(page_stages)}]"
    )
    if errors:
        print(
            f"corner error (% of diagonal): mean {np.mean(errors):.3f}, "
            f"max {np.max(errors):.3f}, pages missed {misses}/{len(frames)}"
        )

    cam = SimCamera(seed=args.seed + 1, width=args.width, height=args.height, script=DEFECTS)
    cam.open()
    for kind in DEFECTS:
        res = make_preview(cam.capture().jpeg, cfg)
        print(f"  {kind:8s} -> {', '.join(res.quality.codes) or 'ok'}")


if __name__ == "__main__":
    main()
