"""Scale benchmark of the animal model (not a test): a simulated pedigree of 100,000 animals
(10 generations of 10,000; 200 sires and random dams per generation, 5% unknown dams) with 50,000
records, fitted by REML through the MME with a sparse A⁻¹.

    python benchmarks/genetics_bench.py [n_animals] [n_records] [n_generations] [n_sires]
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


def main(argv: list[str]) -> None:
    n_animals = int(argv[1]) if len(argv) > 1 else 100_000
    n_records = int(argv[2]) if len(argv) > 2 else 50_000
    n_gen = int(argv[3]) if len(argv) > 3 else 10
    n_sires = int(argv[4]) if len(argv) > 4 else 200
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


if __name__ == "__main__":
    main(sys.argv)
