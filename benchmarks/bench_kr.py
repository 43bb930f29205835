"""Kenward-Roger type III anova: mixedpy vs pbkrtest (through lmerTest), times and numbers.

The model is egsingle's (mlmRev): ``math ~ year * female + (year | childid) + (1 | schoolid)`` on a
simulated data set of the same shape (benchmarks/data/egsim.csv, written by make_egsim.py: 7,230 rows,
1,721 children in 60 schools, q = 3,502 random effects).  pbkrtest is timed by bench_kr.R when
Rscript is available (lme4, lmerTest, pbkrtest, jsonlite installed).

Usage::

    python benchmarks/bench_kr.py                       # mixedpy and pbkrtest
    python benchmarks/bench_kr.py --baseline c1b5204    # also kenward_roger.py as of a commit
    python benchmarks/bench_kr.py --no-r --reps 3

Prints one row per implementation: seconds for the KR table (the fit excluded), and DenDF / F of
each term; then the largest relative differences from pbkrtest.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import mixedpy
import mixedpy.inference.kenward_roger

FORMULA = "math ~ year * female + (year | childid) + (1 | schoolid)"
DATA = HERE / "data" / "egsim.csv"
MODULE = "mixedpy.inference.kenward_roger"


def load(path: Path) -> pd.DataFrame:
    if not path.exists() and path == DATA:
        from make_egsim import OUT, make_egsim
        OUT.parent.mkdir(parents=True, exist_ok=True)
        make_egsim().to_csv(OUT, index=False)
    d = pd.read_csv(path)
    for c in d.columns:
        if d[c].dtype == object:
            d[c] = pd.Categorical(d[c])
    return d


def baseline_module(commit: str):
    """kenward_roger.py as of ``commit``, importable in place of the current one."""
    src = subprocess.run(["git", "-C", str(HERE.parent), "show", f"{commit}:mixedpy/inference/kenward_roger.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "kenward_roger_baseline.py"
    # results.structures may be None now (older kenward_roger.py expected a sequence)
    path.write_text(src.replace('getattr(result, "structures", ())', '(getattr(result, "structures", None) or ())'))
    spec = importlib.util.spec_from_file_location("mixedpy.inference._kr_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def time_mixedpy(data: pd.DataFrame, formula: str, reps: int, module=None) -> tuple[float, pd.DataFrame, float]:
    """Best of ``reps`` KR tables, each on a fresh fit (the adjusted covariance is cached per fit)."""
    best, table = np.inf, None
    current = sys.modules[MODULE]
    for _ in range(reps):
        m = mixedpy.fit(formula, data)
        if module is not None:
            sys.modules[MODULE] = module  # anova imports kr_test from here
        try:
            t = time.perf_counter()
            table = m.anova(type=3, ddf="kenward-roger")
            best = min(best, time.perf_counter() - t)
        finally:
            sys.modules[MODULE] = current
    return best, table, float(m.reml_criterion)


def time_pbkrtest(path: Path, formula: str) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    out = Path(tempfile.mkdtemp()) / "kr.json"
    r = subprocess.run(["Rscript", str(HERE / "bench_kr.R"), str(path), formula, str(out)],
                       check=False, capture_output=True, text=True)
    if r.returncode != 0 or not out.exists():
        print("Rscript failed:\n" + r.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--formula", default=FORMULA)
    ap.add_argument("--reps", type=int, default=1, help="mixedpy repetitions (best is reported)")
    ap.add_argument("--baseline", help="also time kenward_roger.py as of this git commit")
    ap.add_argument("--no-r", action="store_true", help="skip pbkrtest")
    args = ap.parse_args()
    data = load(args.data)
    rows = []
    sec, tab, crit = time_mixedpy(data, args.formula, args.reps)
    terms = list(tab.index)
    rows.append(("mixedpy", sec, tab["den_df"].to_numpy(), tab["F"].to_numpy(), crit))
    if args.baseline:
        sec, tab, crit = time_mixedpy(data, args.formula, args.reps, baseline_module(args.baseline))
        rows.append((f"mixedpy@{args.baseline}", sec, tab["den_df"].to_numpy(), tab["F"].to_numpy(), crit))
    ref = None if args.no_r else time_pbkrtest(args.data, args.formula)
    if ref is not None:
        order = [ref["terms"].index(t) for t in terms]
        rows.append(("pbkrtest", ref["kr_seconds"], np.asarray(ref["DenDF"])[order],
                     np.asarray(ref["F"])[order], ref["reml_criterion"]))
    q = mixedpy.fit(args.formula, data).random.q
    print(f"{args.formula}\n{len(data)} rows, q = {q} random effects\n")
    w = [max(12, len(t) + 6) for t in terms]
    print(f"{'implementation':22s} {'seconds':>8s} {'REML crit':>12s}"
          + "".join(f" {'DenDF ' + t:>{k}s} {'F ' + t:>{k}s}" for t, k in zip(terms, w)))
    for name, s, dd, F, c in rows:
        print(f"{name:22s} {s:8.2f} {c:12.4f}"
              + "".join(f" {a:{k}.4f} {b:{k}.6g}" for a, b, k in zip(dd, F, w)))
    if ref is not None:
        _, _, dd_r, F_r, _ = rows[-1]
        for name, s, dd, F, _ in rows[:-1]:
            print(f"\n{name} vs pbkrtest: time ratio {s / ref['kr_seconds']:.3f}, max rel diff DenDF "
                  f"{np.max(np.abs(dd - dd_r) / np.abs(dd_r)):.2e}, F {np.max(np.abs(F - F_r) / np.abs(F_r)):.2e}")


if __name__ == "__main__":
    main()
