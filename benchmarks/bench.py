"""Speed benchmark: mixedpy against lme4 (through Rscript, when installed) and statsmodels MixedLM
(when installed) on the same data in the same run.  Prints a markdown table.

    python benchmarks/bench.py                 # small models + InstEval
    python benchmarks/bench.py --scale         # adds the 10^4 … 10^6-row crossed scaling curve
    python benchmarks/bench.py --quick         # small models only

Times are wall-clock medians of several runs (20 for the small models; InstEval: 3 for mixedpy,
2 for lme4; the 10^4 … 10^6 curve: one fresh process per size); "criterion" is the REML criterion (or ML deviance) each program reached.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mixedpy  # noqa: E402
from synthetic import FORMULA as SYNTH_FORMULA  # noqa: E402

INSTEVAL = [HERE.parent / "tests" / "reference" / "data" / "InstEval.csv",
            HERE.parent.parent / "shared" / "benchmark" / "InstEval.csv"]


def _time_mixedpy(formula, data, reml, repeats):
    times, m = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mixedpy.fit(formula, data, reml=reml)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), m


def _time_lme4(csv, formula, factors, reml, repeats, anova=False):
    if not shutil.which("Rscript"):
        return None
    cmd = ["Rscript", str(HERE / "lme4_bench.R"), str(csv), formula, ",".join(factors),
           "TRUE" if reml else "FALSE", str(repeats), "TRUE" if anova else "FALSE"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, json.JSONDecodeError, IndexError):
        return None


def _time_statsmodels(formula_fixed, group, data, reml, re_formula=None):
    try:
        import statsmodels.formula.api as smf
    except ImportError:
        return None
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = smf.mixedlm(formula_fixed, data, groups=data[group], re_formula=re_formula).fit(reml=reml)
    return {"fit_seconds": time.perf_counter() - t0, "criterion": -2 * r.llf}


def small_models(rows):
    cases = [("sleepstudy", "Reaction ~ Days + (Days | Subject)", ["Subject"], "Reaction ~ Days", "Subject", "~Days"),
             ("dyestuff", "Yield ~ 1 + (1 | Batch)", ["Batch"], "Yield ~ 1", "Batch", None)]
    for name, formula, factors, smf_formula, group, re in cases:
        data = mixedpy.datasets.load(name)
        secs, m = _time_mixedpy(formula, data, True, 20)
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
            data.to_csv(fh.name, index=False)
        r = _time_lme4(fh.name, formula, factors, True, 20)
        s = _time_statsmodels(smf_formula, group, data, True, re)
        rows.append(_row(name, formula, m, secs, r, s))


def insteval(rows):
    csv = next((p for p in INSTEVAL if p.exists()), None)
    if csv is None:
        return
    data = pd.read_csv(csv)
    factors = ["s", "d", "dept", "service"]
    for f in factors:
        data[f] = pd.Categorical(data[f])
    formula = "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"
    secs, m = _time_mixedpy(formula, data, True, 3)  # medians: the first run of each pays page faults
    t0 = time.perf_counter()
    m.anova(type=3) if hasattr(m, "anova") else None
    anova_secs = time.perf_counter() - t0 if hasattr(m, "anova") else float("nan")
    r = _time_lme4(csv, formula, factors, True, 2, anova=True)
    rows.append(_row("InstEval", formula, m, secs, r, None, anova_secs))


def _row(name, formula, m, secs, r, s, anova_secs=float("nan")):
    return {"model": name, "n": m.nobs, "mixedpy s": secs, "evals": m.optinfo.nfev,
            "lme4 s": r["fit_seconds"] if r else float("nan"),
            "ratio": secs / r["fit_seconds"] if r and r["fit_seconds"] > 0 else float("nan"),
            "crit mixedpy": m.objective, "crit lme4": r["criterion"] if r else float("nan"),
            "statsmodels s": s["fit_seconds"] if s else float("nan"),
            "crit statsmodels": s["criterion"] if s else float("nan"),
            "anova3 mixedpy s": anova_secs,
            "anova3 lmerTest s": r.get("anova_seconds", float("nan")) if r else float("nan")}


def scale_curve(sizes):
    """Fit the synthetic crossed model at each size in a fresh process (time and peak memory)."""
    out = []
    for n in sizes:
        code = ("import sys, time, resource, warnings; sys.path.insert(0, %r); warnings.simplefilter('ignore');"
                "from synthetic import make_crossed, FORMULA; import mixedpy;"
                "d = make_crossed(%d, %d, %d); t0 = time.perf_counter(); m = mixedpy.fit(FORMULA, d);"
                "print(time.perf_counter() - t0, m.optinfo.nfev, m.objective,"
                " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)") % (
                    str(HERE), n, max(10, n // 10), max(20, n // 500))
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        secs, nfev, crit, gib = res.stdout.split()
        out.append({"rows": n, "animals": max(10, n // 10), "herds": max(20, n // 500),
                    "seconds": float(secs), "evals": int(nfev), "peak GiB": float(gib)})
    return pd.DataFrame(out)


def plot_curve(curve: pd.DataFrame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].loglog(curve["rows"], curve["seconds"], "o-")
    ax[0].set(xlabel="rows", ylabel="fit time (s)", title="time")
    ax[1].loglog(curve["rows"], curve["peak GiB"], "o-")
    ax[1].set(xlabel="rows", ylabel="peak memory (GiB)", title="memory")
    fig.suptitle(SYNTH_FORMULA)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scale", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    small_models(rows)
    if not args.quick:
        insteval(rows)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else table.to_string(index=False))
    if args.scale:
        curve = scale_curve([10_000, 30_000, 100_000, 300_000, 1_000_000])
        print()
        print(curve.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else curve.to_string(index=False))
        slope = np.polyfit(np.log(curve["rows"]), np.log(curve["seconds"]), 1)[0]
        print(f"\nfit time grows like rows^{slope:.2f} over this range")
        plot_curve(curve, HERE / "scaling.png")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
