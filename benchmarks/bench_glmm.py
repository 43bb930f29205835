"""mixedpy vs glmer on generalized linear mixed models, side by side in one run (issue #18).

VerbAgg, ``r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)``, binomial logit, Laplace
(7,584 rows; 316 subjects crossed with 24 items).  Target: ≤ 0.2 × glmer's time.  glmer is timed
with its default control and with the tight inner tolerance of the reference values
(``tolPwrss = 1e-12``), by ``benchmarks/bench_glmm.R``; mixedpy always converges to the tight optimum.
Also cbpp and grouseticks (small; the times show the fixed costs).

    python benchmarks/bench_glmm.py [--skip-r] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import mixedpy

HERE = Path(__file__).parent
ROOT = HERE.parent

MODELS = [
    ("verbagg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial"),
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    ("grouseticks", "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson"),
]


def time_mixedpy(name: str, formula: str, family: str, repeats: int):
    data = mixedpy.datasets.load(name)
    secs, m = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        m = mixedpy.fit(formula, data, family=family)
        secs.append(time.perf_counter() - t)
    return float(np.median(secs)), m


def time_glmer(repeats: int) -> dict:
    if shutil.which("Rscript") is None:
        return {"error": "Rscript not found"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "glmer.json"
        try:
            subprocess.run(["Rscript", str(HERE / "bench_glmm.R"), str(out), "", str(repeats)], cwd=ROOT,
                           capture_output=True, text=True, timeout=3600, check=True)
            return json.loads(out.read_text())["results"]
        except (subprocess.SubprocessError, OSError, json.JSONDecodeError, KeyError) as exc:
            return {"error": str(exc)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-r", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'model':<12} {'rows':>6} {'mixedpy s':>10} {'-2 logLik':>15}")
    rows = {}
    for name, formula, family in MODELS:
        sec, m = time_mixedpy(name, formula, family, args.repeats)
        rows[name] = (sec, m)
        print(f"{name:<12} {m.nobs if hasattr(m, 'nobs') else '':>6} {sec:10.3f} {m.neg2loglik:15.7f}")
    if args.skip_r:
        return
    r = time_glmer(args.repeats)
    if "error" in r:
        print(f"glmer: {r['error']}")
        return
    sec = rows["verbagg"][0]
    for ctl in ("default", "tight"):
        g = r[ctl]
        print(f"glmer ({ctl:<7}) VerbAgg {g['median_seconds']:8.3f} s  -2 logLik {g['minus2logLik']:.7f}  "
              f"mixedpy/glmer = {sec / g['median_seconds']:.3f}")


if __name__ == "__main__":
    main()
