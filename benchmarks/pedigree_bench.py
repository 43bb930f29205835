"""Animal-model REML on pedigrees of different shapes, and known-variance BLUP at national scale.

Every shape has 100,000 animals and 50,000 records (``y ~ sex + (1 | animal)``, simulated h² 0.4,
true breeding values drawn along the pedigree with the exact Mendelian variances, inbreeding
included).  Per shape the table gives the pedigree build time, the REML fit time, the deviance
evaluations, the non-zeros of the factor of C = ZᵀZ + λA⁻¹, the CPU seconds of the fit (user +
system, all threads: less sensitive to other processes than the wall time), the peak resident memory of the
process (``resource.getrusage``; each shape runs in its own process), h² estimated and simulated.

shapes
    dairy      10 generations of 10,000; 25 AI sires per generation (≈ 400 daughters each), dams
               random among the females of the previous generation
    many       5 generations of 20,000; 2,000 sires and 10,000 dams per generation (the issue's)
    overlap    20 yearly cohorts of 5,000; sires and dams from the previous 1-5 cohorts (overlapping
               generations), 300 sires per cohort, 10% unknown dams
    inbred     a closed line: 25 generations of 4,000; 10 sires and 400 dams per generation (mean
               F ≈ 0.3 in the last generations)
    beef       10 generations of 10,000; 1,000 natural-service sires per generation, 30% unknown
               sires (multiple-sire pastures)

    python benchmarks/pedigree_bench.py [shape ...]        # REML per shape (each in a subprocess)
    python benchmarks/pedigree_bench.py blup [n_animals]   # known-variance BLUP, 1,000,000 animals
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

SHAPES = {
    "dairy": {"n_gen": 10, "per": 10_000, "n_sires": 25, "n_dams": None, "overlap": 1, "unknown_sire": 0.0,
                  "unknown_dam": 0.05},
    "many": {"n_gen": 5, "per": 20_000, "n_sires": 2_000, "n_dams": 10_000, "overlap": 1, "unknown_sire": 0.0,
                 "unknown_dam": 0.0},
    "overlap": {"n_gen": 20, "per": 5_000, "n_sires": 300, "n_dams": None, "overlap": 5, "unknown_sire": 0.0,
                    "unknown_dam": 0.10},
    "inbred": {"n_gen": 25, "per": 4_000, "n_sires": 10, "n_dams": 400, "overlap": 1, "unknown_sire": 0.0,
                   "unknown_dam": 0.0},
    "beef": {"n_gen": 10, "per": 10_000, "n_sires": 1_000, "n_dams": None, "overlap": 1, "unknown_sire": 0.30,
                 "unknown_dam": 0.02},
}


def simulate_pedigree(n_gen: int, per: int, n_sires: int, n_dams: int | None, overlap: int,
                      unknown_sire: float, unknown_dam: float, seed: int = 1) -> pd.DataFrame:
    """(animal, sire, dam) with ids 1..n_gen·per; 0 = unknown parent."""
    rng = np.random.default_rng(seed)
    n = n_gen * per
    ids = np.arange(1, n + 1)
    male = rng.random(n) < 0.5
    sire = np.zeros(n, dtype=np.int64)
    dam = np.zeros(n, dtype=np.int64)
    for g in range(1, n_gen):
        lo, hi = g * per, (g + 1) * per
        pool = np.arange(max(0, g - overlap) * per, g * per)
        males, females = pool[male[pool]], pool[~male[pool]]
        sires = rng.choice(males, min(n_sires, len(males)), replace=False)
        dams = females if n_dams is None else rng.choice(females, min(n_dams, len(females)), replace=False)
        s = ids[rng.choice(sires, hi - lo)]
        d = ids[rng.choice(dams, hi - lo)]
        sire[lo:hi] = np.where(rng.random(hi - lo) < unknown_sire, 0, s)
        dam[lo:hi] = np.where(rng.random(hi - lo) < unknown_dam, 0, d)
    return pd.DataFrame({"animal": ids, "sire": sire, "dam": dam, "male": male})


def simulate_records(ped, ped_df: pd.DataFrame, n_records: int, h2: float = 0.4, seed: int = 2,
                     repeated: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Records on the younger animals: y = μ + sex + a + e with a drawn along the pedigree
    (a_i = ½(a_s + a_d) + √d_i z_i, d_i the exact Mendelian variance from the inbreeding)."""
    rng = np.random.default_rng(seed)
    d = ped.mendelian_variance.to_numpy()
    a = np.zeros(len(ped))
    for sl in ped._slices:  # generations: parents before offspring
        s, dm = ped.sire[sl], ped.dam[sl]
        pa = np.where(s >= 0, a[np.maximum(s, 0)], 0.0) + np.where(dm >= 0, a[np.maximum(dm, 0)], 0.0)
        a[sl] = 0.5 * pa + np.sqrt(h2 * d[sl]) * rng.standard_normal(sl.stop - sl.start)
    n = len(ped)
    pos = ped.ids.get_indexer(ped_df["animal"])
    male = np.zeros(n, dtype=bool)
    male[pos] = ped_df["male"].to_numpy()
    cand = np.arange(n // 2, n) if n_records <= n // 2 else np.arange(n)
    rec = rng.choice(cand, n_records, replace=repeated or n_records > len(cand))
    y = 10 + 0.5 * male[rec] + a[rec] + rng.normal(scale=np.sqrt(1 - h2), size=n_records)
    data = pd.DataFrame({"y": y, "sex": np.where(male[rec], "M", "F"), "animal": np.asarray(ped.ids)[rec]})
    return data, a


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): on a shared machine the wall time
    grows with the other processes' load, this much less."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def run_shape(name: str) -> dict:
    import mixedpy
    ped_df = simulate_pedigree(**SHAPES[name])
    t0 = time.perf_counter()
    ped = mixedpy.Pedigree.from_frame(ped_df[["animal", "sire", "dam"]])
    F = ped.inbreeding
    _ = ped.Ainv
    t1 = time.perf_counter()
    data, _ = simulate_records(ped, ped_df, 50_000)
    load0 = load()
    t2, c2 = time.perf_counter(), cpu_seconds()
    m = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped})
    t3, c3 = time.perf_counter(), cpu_seconds()
    vc = m.varcorr
    va = float(vc.loc[vc["grp"] == "animal", "vcov"].iloc[0]) if "grp" in vc else float(m.theta[0] ** 2 * m.sigma ** 2)
    h2 = va / (va + m.sigma ** 2)
    ws = m.workspace
    return {"shape": name, "animals": len(ped), "records": len(data), "mean F": float(F.mean()),
            "max F": float(F.max()), "pedigree s": t1 - t0, "REML s": t3 - t2, "REML CPU s": c3 - c2, "evals": m.optinfo.nfev,
            "optimizer": m.optinfo.method, "factor nnz": int(getattr(ws, "factor_nnz", -1)),
            "peak GiB": peak_gib(), "h2": h2, "h2 sim": 0.4, "load": load0 + " / " + load()}


def run_blup(n_animals: int = 1_000_000) -> dict:
    import mixedpy
    per = n_animals // 10
    ped_df = simulate_pedigree(n_gen=10, per=per, n_sires=max(per // 200, 10), n_dams=None, overlap=2,
                               unknown_sire=0.02, unknown_dam=0.1)
    t0 = time.perf_counter()
    ped = mixedpy.Pedigree.from_frame(ped_df[["animal", "sire", "dam"]])
    _ = ped.Ainv
    t1 = time.perf_counter()
    data, a = simulate_records(ped, ped_df, n_animals // 2)
    load0 = load()
    t2 = time.perf_counter()
    m = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped},
                    variances={"animal": 0.4, "Residual": 0.6})
    t3 = time.perf_counter()
    rel = m.reliability("animal") if hasattr(m, "reliability") else None
    t4 = time.perf_counter()
    ebv = m.ranef["animal"].iloc[:, 0].to_numpy()
    pos = ped.ids.get_indexer(m.ranef["animal"].index)
    acc = float(np.corrcoef(ebv, a[pos])[0, 1])
    out = {"animals": len(ped), "records": len(data), "pedigree s": t1 - t0, "BLUP s": t3 - t2,
           "reliability s": t4 - t3, "solver": m.optinfo.method, "peak GiB": peak_gib(),
           "corr(EBV, true BV)": acc, "load": load0 + " / " + load()}
    solver = getattr(m, "solver_info", None)
    if solver is not None:
        out.update({"iterations": solver.iterations, "relative residual": solver.relative_residual})
    if rel is not None:
        out["mean reliability"] = float(np.mean(rel))
    return out


def main(argv: list[str]) -> None:
    if argv and argv[0] == "_one":
        print(json.dumps(run_shape(argv[1]) if argv[1] != "blup" else run_blup(int(argv[2]))))
        return
    if argv and argv[0] == "blup":
        n = int(argv[1]) if len(argv) > 1 else 1_000_000
        rows = [_subprocess(["blup", str(n)])]
    else:
        rows = [_subprocess([s]) for s in (argv or list(SHAPES))]
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4g") if _has_tabulate()
          else pd.DataFrame(rows).to_string(index=False))


def _subprocess(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "_one", *args], capture_output=True, text=True, check=False)
    if out.returncode:
        return {"shape": args[0], "error": out.stderr.strip().splitlines()[-1]}
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(row, file=sys.stderr, flush=True)
    return row


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main(sys.argv[1:])
