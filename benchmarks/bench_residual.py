"""mixedpy vs glmmTMB on residual-structure models, side by side in one run.

1. MMRM, 30,000 rows (5,000 subjects × 6 visits, ~8% missing), unstructured Σ, REML
   (glmmTMB: ``us(AVISIT + 0 | USUBJID)`` with ``dispformula = ~0``).  Target: ≤ 0.1 × glmmTMB.
2. AR(1) residuals + random intercept, 100,000 subjects × 6 = 600,000 rows.  Target: < 60 s.

    python benchmarks/make_mmrm_data.py      # once: the CSVs
    python benchmarks/bench_residual.py [--skip-r]
"""
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import mixedpy

HERE = Path(__file__).parent
ROOT = HERE.parent


def run_r(which: str):
    try:
        out = subprocess.run(["Rscript", str(HERE / "bench_residual.R"), which], cwd=ROOT,
                             capture_output=True, text=True, timeout=3600, check=False)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, json.JSONDecodeError, IndexError) as exc:
        return {"error": str(exc)}


def main(skip_r: bool = False) -> None:
    warnings.simplefilter("ignore")
    d = pd.read_csv(HERE / "data" / "mmrm_us_30k.csv")
    t = time.perf_counter()
    m = mixedpy.fit("Y ~ ARM * AVISIT + BASE", d, residual="us(AVISIT | USUBJID)")
    t_us = time.perf_counter() - t
    print(f"us 30k rows: mixedpy {t_us:.2f} s, -2RL {m.reml_criterion:.6f}")
    if not skip_r:
        r = run_r("us")
        print(f"             glmmTMB {r.get('seconds')} s, -2RL {r.get('m2ll')}  ratio "
              f"{t_us / r['seconds']:.3f}" if "seconds" in r else f"  glmmTMB failed: {r}")
    d = pd.read_csv(HERE / "data" / "ar1_ri_600k.csv")
    t = time.perf_counter()
    m = mixedpy.fit("y ~ x + (1 | id)", d, residual="ar1(time | id)")
    t_ar = time.perf_counter() - t
    print(f"ar1 + (1|id) 600k rows: mixedpy {t_ar:.2f} s, -2RL {m.reml_criterion:.6f}, θ {m.theta}")
    if not skip_r and "--with-r-ar1" in sys.argv:
        r = run_r("ar1")
        print(f"             glmmTMB {r.get('seconds')} s, -2RL {r.get('m2ll')}")


if __name__ == "__main__":
    main(skip_r="--skip-r" in sys.argv)
