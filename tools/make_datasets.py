"""Write the simulated data sets shipped in mixedpy/datasets (run once; the files are committed).

    python tools/make_datasets.py

* met.csv: a multi-environment variety trial (24 genotypes × 6 environments × 3 replicates);
* cattle_pedigree.csv, cattle_records.csv, cattle.bed/.bim/.fam: a beef herd simulated by dropping
  genes through a pedigree (40 founders, 4 generations of 100 calves), 1,000 SNPs on 5 chromosomes,
  50 small QTL and one large one (snp3_101); weaning weight with h² = 0.4 in the founders.
Needs bed-reader (the gwas extra) to write the PLINK files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "mixedpy" / "datasets"


def met(rng: np.random.Generator) -> pd.DataFrame:
    genotypes = [f"G{i:02d}" for i in range(1, 25)]
    envs = ["Ames", "Bonn", "Clay", "Dijon", "Essen", "Fargo"]
    env_mean = dict(zip(envs, [6.2, 7.8, 5.1, 8.4, 6.9, 4.6]))
    g = rng.normal(0, 0.45, len(genotypes))
    gh = rng.normal(0, 6.0, len(genotypes))
    rows = []
    for e in envs:
        ge = rng.normal(0, 0.3, len(genotypes))
        for r in (1, 2, 3):
            rep = rng.normal(0, 0.25)
            for k, gen in enumerate(genotypes):
                y = env_mean[e] + rep + g[k] + ge[k] + rng.normal(0, 0.5)
                h = 95 + 4 * (env_mean[e] - 6.5) + gh[k] + rng.normal(0, 4.0)
                rows.append((e, r, gen, round(y, 2), round(h, 1)))
    d = pd.DataFrame(rows, columns=["env", "rep", "genotype", "yield", "height"])
    d.loc[rng.choice(len(d), 5, replace=False), "yield"] = np.nan   # a few lost plots
    return d


def cattle(rng: np.random.Generator):
    n_chrom, per_chrom = 5, 200
    m = n_chrom * per_chrom
    p = rng.uniform(0.05, 0.5, m)
    sires = [f"S{i}" for i in range(1, 9)]
    dams = [f"D{i}" for i in range(1, 33)]
    ped = [(a, None, None, 0, "M" if a[0] == "S" else "F") for a in sires + dams]
    hap = {a: (rng.random(m) < p).astype(np.int8) for a in sires + dams}          # two haplotypes each
    hap = {a: np.stack([h, (rng.random(m) < p).astype(np.int8)]) for a, h in hap.items()}

    def gamete(parent):
        h = hap[parent]
        out = np.empty(m, dtype=np.int8)
        for c in range(n_chrom):
            sl = slice(c * per_chrom, (c + 1) * per_chrom)
            which = np.zeros(per_chrom, dtype=int)
            for x in np.sort(rng.integers(0, per_chrom, rng.poisson(1.0))):  # crossovers
                which[x:] ^= 1
            which ^= rng.integers(0, 2)
            out[sl] = np.where(which == 0, h[0, sl], h[1, sl])
        return out

    n = 0
    for gen in range(1, 5):
        born = []
        for _ in range(100):
            n += 1
            a, s, d = f"A{n:03d}", rng.choice(sires), rng.choice(dams)
            hap[a] = np.stack([gamete(s), gamete(d)])
            born.append((a, s, d, gen, rng.choice(["M", "F"])))
        ped += born
        sires = list(rng.choice([b[0] for b in born if b[4] == "M"], 8, replace=False))
        dams = list(rng.choice([b[0] for b in born if b[4] == "F"], 32, replace=False))
    ped = pd.DataFrame(ped, columns=["animal", "sire", "dam", "generation", "sex"])
    geno = np.array([hap[a].sum(axis=0) for a in ped.animal], dtype=float)          # allele counts
    names = [f"snp{c + 1}_{k + 1}" for c in range(n_chrom) for k in range(per_chrom)]
    effects = np.zeros(m)
    effects[rng.choice(m, 50, replace=False)] = rng.normal(0, 1, 50)
    big = names.index("snp3_101")
    effects[big] = 0.0
    founders = (ped.generation == 0).to_numpy()
    tbv_small = geno @ effects
    tbv_small *= np.sqrt(88.0 / np.var(tbv_small[founders]))
    big_part = 6.0 * (geno[:, big] - 2 * p[big])                                     # ~12 % of σ²_a
    tbv = tbv_small + big_part
    tbv -= tbv[founders].mean()
    herd_effect = dict(zip([f"H{i}" for i in range(1, 9)], rng.normal(0, 8, 8)))
    rec = ped[ped.generation > 0].copy()
    rec["herd"] = rng.choice(list(herd_effect), len(rec))
    e = rng.normal(0, np.sqrt(150.0), len(rec))
    rec["weight"] = (220 + np.where(rec.sex == "M", 12.0, 0.0) + rec.herd.map(herd_effect).to_numpy()
                     + tbv[ped.generation.to_numpy() > 0] + e).round(1)
    rec = rec[["animal", "sex", "herd", "generation", "weight"]]
    typed = (ped.generation >= 2).to_numpy()                                         # 300 genotyped
    return ped, rec, geno[typed], ped.animal[typed].tolist(), names


def main() -> None:
    rng = np.random.default_rng(20261204)
    met(rng).to_csv(OUT / "met.csv", index=False)
    ped, rec, geno, ids, names = cattle(rng)
    ped[["animal", "sire", "dam", "generation", "sex"]].to_csv(OUT / "cattle_pedigree.csv", index=False)
    rec.to_csv(OUT / "cattle_records.csv", index=False)
    from bed_reader import to_bed

    chrom = [n.split("_")[0][3:] for n in names]
    pos = [int(n.split("_")[1]) * 50_000 for n in names]
    to_bed(OUT / "cattle.bed", geno.astype(np.float32), properties={
        "fid": ids, "iid": ids, "sid": names, "chromosome": chrom, "bp_position": pos,
        "allele_1": ["A"] * len(names), "allele_2": ["G"] * len(names)}, count_A1=True)


if __name__ == "__main__":
    main()
