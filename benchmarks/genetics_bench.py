"""Benchmarks of the genetic models (not tests; they print tables).

pedigree  A simulated pedigree of 100,000 animals (10 generations of 10,000; 200 sires and random
          dams per generation, 5% unknown dams) with 50,000 records, fitted by REML through the MME
          with a sparse A⁻¹.
gblup     Genomic models (records = animals, ``y ~ x + (1 | id)`` with a VanRaden GRM K from 2,000
          markers) at n = 1000 and 3000: the single-dense-K fast path (one tridiagonal reduction,
          O(n) per REML evaluation) against the general MME workspace (a dense Cholesky of the
          q × q system per evaluation) on the same model: time, evaluations, REML criterion.
anova     Henderson III (``method="anova"``) on 50,000 records with two crossed / nested random
          intercept factors.

    python benchmarks/genetics_bench.py [pedigree|gblup|anova|all] [arguments]
    python benchmarks/genetics_bench.py pedigree [n_animals] [n_records] [n_generations] [n_sires]
    python benchmarks/genetics_bench.py gblup [n ...]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import mixedpy


def simulate(n_animals: int = 100_000, n_records: int = 50_000, n_gen: int = 10, n_sires: int = 200,
             h2: float = 0.3, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pedigree frame, data frame) with true breeding values drawn along the pedigree."""
    rng = np.random.default_rng(seed)
    per = n_animals // n_gen
    ids = np.arange(1, n_animals + 1)
    sire = np.zeros(n_animals, dtype=np.int64)
    dam = np.zeros(n_animals, dtype=np.int64)
    sex = rng.integers(0, 2, n_animals)
    bv = np.zeros(n_animals)
    va, ve = h2, 1 - h2
    bv[:per] = rng.normal(scale=np.sqrt(va), size=per)
    for g in range(1, n_gen):
        lo, hi = g * per, (g + 1) * per
        prev = np.arange((g - 1) * per, g * per)
        males, females = prev[sex[prev] == 0], prev[sex[prev] == 1]
        sires = rng.choice(males, n_sires, replace=False)
        s = rng.choice(sires, hi - lo)
        d = rng.choice(females, hi - lo)
        known_d = rng.random(hi - lo) > 0.05
        sire[lo:hi] = ids[s]
        dam[lo:hi] = np.where(known_d, ids[d], 0)
        # Mendelian sampling variance ignoring inbreeding (good enough for simulated truth)
        bv[lo:hi] = 0.5 * bv[s] + np.where(known_d, 0.5 * bv[d], 0.0) + rng.normal(
            scale=np.sqrt(va * np.where(known_d, 0.5, 0.75)), size=hi - lo)
    ped = pd.DataFrame({"animal": ids, "sire": sire, "dam": dam})
    rec = rng.choice(np.arange(n_animals // 2, n_animals), n_records, replace=False)
    x = rng.normal(size=n_records)
    y = 10 + 0.5 * x + 0.3 * sex[rec] + bv[rec] + rng.normal(scale=np.sqrt(ve), size=n_records)
    data = pd.DataFrame({"y": y, "x": x, "sex": np.where(sex[rec] == 1, "F", "M"), "animal": ids[rec]})
    return ped, data


def pedigree_bench(argv: list[str]) -> None:
    n_animals = int(argv[0]) if len(argv) > 0 else 100_000
    n_records = int(argv[1]) if len(argv) > 1 else 50_000
    n_gen = int(argv[2]) if len(argv) > 2 else 10
    n_sires = int(argv[3]) if len(argv) > 3 else 200
    ped_df, data = simulate(n_animals, n_records, n_gen, n_sires)
    t0 = time.perf_counter()
    ped = mixedpy.Pedigree.from_frame(ped_df)
    t1 = time.perf_counter()
    F = ped.inbreeding
    t2 = time.perf_counter()
    _ = ped.Ainv
    t3 = time.perf_counter()
    m = mixedpy.fit("y ~ x + sex + (1 | animal)", data, relmat={"animal": ped})
    t4 = time.perf_counter()
    h2 = m.heritability("animal")
    t5 = time.perf_counter()
    print(f"pedigree {len(ped)} animals, {len(data)} records, {n_gen} generations, {n_sires} sires/generation")
    print(f"  sort/check {t1 - t0:.2f}s, inbreeding {t2 - t1:.2f}s (mean F {F.mean():.4f}), "
          f"Ainv {t3 - t2:.2f}s (nnz {ped.Ainv.nnz})")
    print(f"  REML fit {t4 - t3:.2f}s ({m.optinfo.nfev} deviance evaluations, "
          f"{'sparse' if not m.workspace.dense else 'dense'} factor)")
    print(f"  total pedigree + fit {t4 - t0:.2f}s; heritability with SE {t5 - t4:.2f}s")
    print(m.varcorr.to_string())
    print(h2.to_string())
    print(f"  ranef rows: {len(m.ranef['animal'])}")


def simulate_genomic(n: int, n_markers: int = 2000, h2: float = 0.4, seed: int = 1
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(markers, data): one record per individual, true values from the markers."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, n_markers)
    M = rng.binomial(2, p, size=(n, n_markers)).astype(float)
    ids = [f"a{i}" for i in range(n)]
    W = M - 2 * p
    u = W @ rng.normal(scale=np.sqrt(h2 / (2 * np.sum(p * (1 - p)))), size=n_markers)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + u + rng.normal(scale=np.sqrt(1 - h2), size=n)
    return pd.DataFrame(M, index=ids), pd.DataFrame({"y": y, "x": x, "id": ids})


def gblup_bench(argv: list[str]) -> None:
    from mixedpy.genetics.fitting import setup
    from mixedpy.genetics.mme import MMEWorkspace
    from mixedpy.genetics.threads import blas_limit
    from mixedpy.optimize import minimize_deviance
    sizes = [int(a) for a in argv] or [1000, 3000]
    rows = []
    for n in sizes:
        markers, data = simulate_genomic(n)
        t0 = time.perf_counter()
        K = mixedpy.grm(markers)
        t1 = time.perf_counter()
        m = mixedpy.fit("y ~ x + (1 | id)", data, relmat={"id": K})
        t2 = time.perf_counter()
        with blas_limit():   # the general workspace (dense Cholesky per θ) on the same model
            s = setup("y ~ x + (1 | id)", data, {"id": K}, workspace="mme")
            ws = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures, spectral=False)
            opt = minimize_deviance(lambda th, ws=ws: ws.deviance(th, True), s.random.theta0, s.random.lower,
                                    "bobyqa")
        t3 = time.perf_counter()
        rows.append({"n": n, "grm s": t1 - t0, "fast fit s": t2 - t1, "fast evals": m.optinfo.nfev,
                     "general fit s": t3 - t2, "general evals": opt.nfev,
                     "REML fast": m.reml_criterion, "REML general": opt.fun,
                     "rel diff": abs(m.reml_criterion - opt.fun) / abs(opt.fun),
                     "theta fast": float(m.theta[0]), "theta general": float(opt.theta[0])})
    print("GBLUP, records = animals, y ~ x + (1 | id), VanRaden GRM of 2,000 markers")
    print("(fast: tridiagonal workspace chosen by fit(); general: MME workspace, dense Cholesky per evaluation)")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.6g}"))


def anova_bench(argv: list[str]) -> None:
    rng = np.random.default_rng(1)
    n = int(argv[0]) if argv else 50_000
    x = rng.normal(size=n)
    a, b = rng.integers(0, 1000, n), rng.integers(0, 200, n)
    herd = rng.integers(0, 500, n)
    cow = herd * 20 + rng.integers(0, 20, n)
    noise = rng.normal(scale=np.sqrt(3.0), size=n)
    cases = {
        "crossed a (1000) x b (200)": ("y ~ x + (1 | a) + (1 | b)", pd.DataFrame({
            "y": 5 + 0.3 * x + rng.normal(scale=np.sqrt(2.0), size=1000)[a] + rng.normal(size=200)[b] + noise,
            "x": x, "a": a, "b": b})),
        "nested herd (500) / cow (10000)": ("y ~ x + (1 | herd) + (1 | herd:cow)", pd.DataFrame({
            "y": 5 + 0.3 * x + rng.normal(scale=np.sqrt(2.0), size=500)[herd] + rng.normal(size=10_000)[cow]
            + noise, "x": x, "herd": herd, "cow": cow})),
    }
    rows = []
    for name, (formula, data) in cases.items():
        t0 = time.perf_counter()
        m = mixedpy.fit(formula, data, method="anova")
        t1 = time.perf_counter()
        r = mixedpy.fit(formula, data)
        t2 = time.perf_counter()
        rows.append({"design": name, "anova s": t1 - t0, "REML s": t2 - t1,
                     "anova variances": " ".join(f"{v:.4g}" for v in m.varcorr["variance"]),
                     "REML variances": " ".join(f"{v:.4g}" for v in r.varcorr["variance"])})
    print(f"Henderson III (method='anova'), {n} records (true variances 2 / 1 / 3, random-term order of varcorr)")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main(argv: list[str]) -> None:
    args = argv[1:]
    what = "pedigree" if args and args[0].isdigit() else (args.pop(0) if args else "all")
    if what not in ("pedigree", "gblup", "anova", "all"):
        raise SystemExit(__doc__)
    if what in ("gblup", "all"):
        gblup_bench(args if what == "gblup" else [])
    if what in ("anova", "all"):
        anova_bench(args if what == "anova" else [])
    if what in ("pedigree", "all"):
        pedigree_bench(args if what == "pedigree" else [])


if __name__ == "__main__":
    main(sys.argv)
