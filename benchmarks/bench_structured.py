"""Structured G benchmarks (issue #15), printed in one run:

1. A 6-environment trial with 2,000 genotypes (2 reps per genotype×env cell, 25 % of the plots
   missing at random: ~18,000 plots), y ~ env + fa(0 + env | genotype, 1): mixedpy against glmmTMB's
   rr(0 + env | genotype, d = 1) + diag(0 + env | genotype) on the same data (REML criteria and times).
2. A 2-trait animal model on a simulated pedigree of 20,000 animals (mixedpy.fit_multitrait, REML):
   the issue's target is under 60 s.

Run: python benchmarks/bench_structured.py [--animals 20000] [--skip-r] [--skip-animal]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedpy

R_SCRIPT = r"""
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
a <- commandArgs(TRUE)
d <- read.csv(a[1]); d$env <- factor(d$env); d$genotype <- factor(d$genotype)
t0 <- proc.time()[["elapsed"]]
m <- glmmTMB(y ~ env + rr(0 + env | genotype, d = 1) + diag(0 + env | genotype), data = d, REML = TRUE,
             control = glmmTMBControl(optCtrl = list(iter.max = 5000, eval.max = 5000)))
el <- proc.time()[["elapsed"]] - t0
writeLines(toJSON(list(reml = -2 * as.numeric(logLik(m)), seconds = el, conv = m$fit$convergence),
                  digits = NA, auto_unbox = TRUE), a[2])
"""


def met_data(n_geno: int = 2000, n_env: int = 6, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.5, 1.2, n_env)
    psi = rng.uniform(0.05, 0.3, n_env)
    f = rng.standard_normal(n_geno)
    g = np.outer(f, lam) + rng.standard_normal((n_geno, n_env)) * np.sqrt(psi)
    env_mean = rng.normal(5, 1, n_env)
    rows = []
    for e in range(n_env):
        for rep in (1, 2):
            y = env_mean[e] + g[:, e] + rng.standard_normal(n_geno) * 0.7
            rows.append(pd.DataFrame({"env": f"E{e + 1}", "rep": rep,
                                      "genotype": [f"G{i:04d}" for i in range(n_geno)], "y": y}))
    d = pd.concat(rows, ignore_index=True)
    return d[rng.random(len(d)) >= 0.25].reset_index(drop=True)


def pedigree_data(n: int, seed: int = 2):
    """A random-mating pedigree (100 founders, generations of 2,000) and 2 traits with G₀, R₀; 15 %
    of the second trait missing."""
    rng = np.random.default_rng(seed)
    nf = 100
    ids = np.arange(1, n + 1)
    sire = np.full(n, np.nan)
    dam = np.full(n, np.nan)
    gen_size = 2000
    start = nf
    prev = np.arange(1, nf + 1)
    while start < n:
        stop = min(start + gen_size, n)
        males, females = prev[: len(prev) // 2], prev[len(prev) // 2:]
        sire[start:stop] = rng.choice(males, stop - start)
        dam[start:stop] = rng.choice(females, stop - start)
        prev = ids[start:stop]
        start = stop
    G0 = np.array([[1.0, 0.5], [0.5, 2.0]])
    R0 = np.array([[2.0, 0.3], [0.3, 3.0]])
    LG = np.linalg.cholesky(G0)
    u = np.zeros((n, 2))
    for i in range(n):  # Mendelian sampling, simulation only
        s, d = sire[i], dam[i]
        known_s, known_d = not np.isnan(s), not np.isnan(d)
        par = (u[int(s) - 1] if known_s else 0) * 0.5 + (u[int(d) - 1] if known_d else 0) * 0.5
        var = 0.5 if known_s or known_d else 1.0
        u[i] = par + np.sqrt(var) * (LG @ rng.standard_normal(2))
    e = rng.standard_normal((n, 2)) @ np.linalg.cholesky(R0).T
    sex = rng.choice(["F", "M"], n)
    Y = u + e + np.where(sex[:, None] == "M", [1.0, 2.0], 0.0)
    ped = pd.DataFrame({"animal": ids, "sire": sire, "dam": dam})
    data = pd.DataFrame({"animal": ids, "sex": sex, "w1": Y[:, 0], "w2": Y[:, 1]}).iloc[nf:]
    data.loc[rng.random(len(data)) < 0.15, "w2"] = np.nan
    return ped, data


def bench_met(skip_r: bool) -> None:
    d = met_data()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("y ~ env + fa(0 + env | genotype, 1)", d)
    t_py = time.perf_counter() - t0
    print(f"FA(1), 6 env x 2,000 genotypes ({len(d)} rows): mixedpy {t_py:.1f} s, REML criterion "
          f"{m.reml_criterion:.6f}")
    if skip_r:
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv, out, script = Path(tmp, "met.csv"), Path(tmp, "out.json"), Path(tmp, "fa.R")
        d.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        t0 = time.perf_counter()
        subprocess.run(["Rscript", str(script), str(csv), str(out)], check=True)
        wall = time.perf_counter() - t0
        r = json.loads(out.read_text())
    print(f"  glmmTMB rr(d = 1) + diag: {r['seconds']:.1f} s fit ({wall:.1f} s with R start-up), REML criterion "
          f"{r['reml']:.6f} (convergence code {r['conv']}); mixedpy - glmmTMB = {m.reml_criterion - r['reml']:.2e}")


def bench_animal(n: int) -> None:
    pedf, data = pedigree_data(n)
    t0 = time.perf_counter()
    ped = mixedpy.Pedigree.from_frame(pedf)
    t_ped = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = mixedpy.fit_multitrait(data, traits=["w1", "w2"], fixed="sex", random="animal", relmat={"animal": ped})
    t_fit = time.perf_counter() - t0
    G = m.term_covariance(m.random.terms[0])
    print(f"2-trait animal model, {n} animals ({m.nobs} records): pedigree {t_ped:.1f} s, REML {t_fit:.1f} s "
          f"({m.optinfo.nfev} evaluations, {m.optinfo.method}); criterion {m.reml_criterion:.4f}; "
          f"G0 = {np.round(G, 3).tolist()} (simulated [[1, 0.5], [0.5, 2]]), "
          f"R0 = {np.round(m.residual_cov().to_numpy(), 3).tolist()} (simulated [[2, 0.3], [0.3, 3]])")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--animals", type=int, default=20000)
    ap.add_argument("--skip-r", action="store_true")
    ap.add_argument("--skip-animal", action="store_true")
    ap.add_argument("--skip-met", action="store_true")
    a = ap.parse_args()
    if not a.skip_met:
        bench_met(a.skip_r)
    if not a.skip_animal:
        bench_animal(a.animals)


if __name__ == "__main__":
    main()
