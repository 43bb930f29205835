"""Marker-scan benchmark (a script that prints tables, not a test): mixedpy.scan on simulated data.

    python benchmarks/scan_bench.py                      # 5,000 individuals x 100,000 markers
    python benchmarks/scan_bench.py -n 1000 -m 10000     # a quick run
    python benchmarks/scan_bench.py --no-fastlmm --no-dask

What it does
------------
1. Simulates 4 subpopulations (Balding-Nichols, F_ST = 0.05) of genotypes with 0.5 % missing calls on
   20 chromosomes, a polygenic trait (h2 = 0.5 from 500 causal markers, plus 5 larger QTL) and a sex
   covariate, and writes a PLINK .bed/.bim/.fam fileset chunk by chunk.  The relationship matrix is
   mixedpy.grm (VanRaden) of every 10th marker, scaled to mean diagonal 1 (see "FaST-LMM" below).
2. mixedpy.scan("y ~ sex + (1 | id)", relmat=K) from the .bed file, locally (default Wald test).
3. Memory against chunk size: the same scan of the first markers with the null variances given
   (no refit), tracemalloc's peak per chunk size (n records: 8 n^2 bytes for the rotation plus about
   16 n chunk_size bytes for the chunk being tested).
4. dask.distributed.LocalCluster (2 worker processes, 1 thread each): the same scan, compared with the
   local one (target: identical to 1e-10).
5. FaST-LMM single_snp (pip install fastlmm) on the same files, side by side with
   mixedpy.scan(test="f"); agreement as the relative difference of -log10 p (target 1e-3).

FaST-LMM's defaults and how they map to mixedpy.scan
----------------------------------------------------
* leave_out_one_chrom=True (LOCO kernels built from the test SNPs) -> we pass our K explicitly with
  leave_out_one_chrom=False: one kernel for all markers, as mixedpy.scan does (LOCO in mixedpy: one
  scan per chromosome with a K that excludes it).
* K0 from SNPs (unit-standardized, K = W W'/m) and the DiagKtoN kernel standardizer (K scaled to
  trace n) -> we pass the VanRaden GRM already scaled to mean diagonal 1, so DiagKtoN leaves it as is
  and FaST-LMM's h2 (V ~ h2 K + (1 - h2) I) is mixedpy's sigma2_g / (sigma2_g + sigma2_e).
* h2 estimated by REML after projecting out the covariates (an intercept is always added) on a grid
  of h2 in [0, 0.99999] refined by Brent -> mixedpy's null REML ("y ~ sex + (1 | id)"), same bounds.
  We run FaST-LMM twice: with its own h2 and with h2 = mixedpy's estimate (separating null-model
  optimizer differences from the tests themselves).
* Test: h2 fixed, residual scale re-estimated per SNP, F(1, n - p - 1) -> mixedpy.scan(test="f").
  (mixedpy's default test="wald" fixes both variance components: chi2 with 1 df.)
* Test SNPs unit-standardized, missing calls mean-imputed -> mixedpy mean-imputes; the scaling
  changes the effect size, not the p-value.
* count_A1=False (counts A2) in older pysnptools versions -> we pass count_A1=True (PLINK's A1, as
  bed-reader and mixedpy): the effect's sign would flip, the p-value does not change.
"""
from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedpy

N_CHROM = 20


# --- simulation and PLINK writing -------------------------------------------------------------------------
def _codes(G: np.ndarray) -> np.ndarray:
    """PLINK 2-bit codes (count_A1=True: 2 -> 00, 1 -> 10, 0 -> 11, missing -> 01), markers x bytes."""
    c = np.full(G.shape, 1, dtype=np.uint8)
    c[G == 2] = 0
    c[G == 1] = 2
    c[G == 0] = 3
    c = c.T  # markers x individuals
    pad = (-c.shape[1]) % 4
    if pad:
        c = np.concatenate([c, np.zeros((c.shape[0], pad), np.uint8)], axis=1)
    c = c.reshape(c.shape[0], -1, 4)
    return (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).astype(np.uint8)


def simulate(n: int, m: int, prefix: Path, seed: int = 2024, chunk: int = 5000):
    """Write prefix.bed/.bim/.fam; return (data, K, causal markers, sids)."""
    rng = np.random.default_rng(seed)
    pop = np.repeat(np.arange(4), -(-n // 4))[:n]
    ids = np.array([f"id{i:05d}" for i in range(n)])
    per = m // N_CHROM
    chrom = np.repeat(np.arange(1, N_CHROM + 1), per)
    chrom = np.concatenate([chrom, np.full(m - len(chrom), N_CHROM)])
    pos = np.concatenate([np.sort(rng.choice(np.arange(1, 50_000_000), (chrom == c).sum(), replace=False))
                          for c in range(1, N_CHROM + 1)])
    sid = np.array([f"snp{j:06d}" for j in range(m)])
    causal = np.sort(rng.choice(m, 500, replace=False))
    qtl = np.sort(rng.choice(np.setdiff1d(np.arange(m), causal), 5, replace=False))
    grm_cols, g, effects = [], np.zeros(n), {}
    with open(prefix.with_suffix(".bed"), "wb") as f:
        f.write(bytes([0x6C, 0x1B, 0x01]))
        for a in range(0, m, chunk):
            b = min(a + chunk, m)
            p_anc = rng.uniform(0.05, 0.5, b - a)
            F = 0.05
            p = rng.beta(p_anc * (1 - F) / F, (1 - p_anc) * (1 - F) / F, size=(4, b - a))
            P = p[pop].astype(np.float32)
            G = ((rng.random((n, b - a), dtype=np.float32) < P).astype(np.int8)
                 + (rng.random((n, b - a), dtype=np.float32) < P).astype(np.int8)).astype(np.float64)
            for j in np.flatnonzero((causal >= a) & (causal < b)):
                x = G[:, causal[j] - a]
                g += (x - x.mean()) * rng.normal() / np.sqrt(max(x.var(), 1e-3))
            for j in np.flatnonzero((qtl >= a) & (qtl < b)):
                x = G[:, qtl[j] - a]
                eff = 0.25 * (x - x.mean()) / np.sqrt(max(x.var(), 1e-3))
                effects[sid[qtl[j]]] = eff
            G[rng.random(G.shape) < 0.005] = np.nan
            grm_cols.append(G[:, ::10])
            f.write(_codes(G).tobytes())
    pd.DataFrame({"fid": ids, "iid": ids, "f": 0, "m": 0, "s": 0, "p": -9}).to_csv(
        prefix.with_suffix(".fam"), sep=" ", header=False, index=False)
    pd.DataFrame({"chrom": chrom, "sid": sid, "cm": 0, "pos": pos, "a1": "A", "a2": "C"}).to_csv(
        prefix.with_suffix(".bim"), sep="\t", header=False, index=False)
    g = g / g.std() * np.sqrt(0.5)
    qtl_sum = sum(effects.values()) if effects else 0.0
    sex = rng.integers(0, 2, n).astype(float)
    y = 10 + 0.4 * sex + 0.3 * (pop - 1.5) + g + qtl_sum + rng.normal(scale=np.sqrt(0.5), size=n)
    data = pd.DataFrame({"y": y, "sex": sex, "id": ids})
    K = mixedpy.grm(pd.DataFrame(np.hstack(grm_cols), index=ids))
    K = K / float(np.mean(np.diag(K)))  # mean diagonal 1 (FaST-LMM's DiagKtoN is then a no-op)
    return data, K, list(effects), sid


def _check_file(prefix: Path, n: int, m: int) -> None:
    from bed_reader import open_bed
    with open_bed(prefix.with_suffix(".bed")) as bed:
        assert bed.iid_count == n and bed.sid_count == m
        v = bed.read(index=np.s_[:, :50], dtype="float64")
        assert set(np.unique(v[np.isfinite(v)])) <= {0.0, 1.0, 2.0}


# --- helpers ----------------------------------------------------------------------------------------------
def _table(rows: list[tuple], header: tuple) -> str:
    w = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).rjust(k) for x, k in zip(r, w))
    return "\n".join([line(header), "  ".join("-" * k for k in w)] + [line(r) for r in rows])


def _log10_diffs(p_a: np.ndarray, p_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(relative difference of -log10 p, the same where p_b <= 0.1, absolute difference)."""
    a, b = -np.log10(p_a), -np.log10(p_b)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    return rel, rel[b >= 1], np.abs(a - b)


FORMULA = "y ~ sex + (1 | id)"


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--individuals", type=int, default=5000)
    ap.add_argument("-m", "--markers", type=int, default=100_000)
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-fastlmm", action="store_true")
    ap.add_argument("--workdir", default=None, help="where to write the PLINK files (default: a temp dir)")
    args = ap.parse_args(argv[1:])
    handler = logging.StreamHandler()  # warnings only (bed-reader and dask log INFO through the root)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    n, m = args.individuals, args.markers
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mixedpy_scan_"))
    work.mkdir(parents=True, exist_ok=True)
    prefix = work / "sim"
    print(f"mixedpy.scan benchmark: {n:,} individuals x {m:,} markers, chunk_size {args.chunk_size}; "
          f"files in {work}")
    try:
        _run(args, n, m, prefix)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _run(args, n: int, m: int, prefix: Path) -> None:
    timings = []
    t = time.perf_counter()
    data, K, qtl, sids = simulate(n, m, prefix)
    _check_file(prefix, n, m)
    timings.append(("simulate + write .bed + GRM (10% of markers)", time.perf_counter() - t))
    bed = str(prefix.with_suffix(".bed"))

    # 2. local scan from the .bed file ----------------------------------------------------------------
    t = time.perf_counter()
    local = mixedpy.scan(FORMULA, data, bed, relmat=K, chunk_size=args.chunk_size, progress=False)
    total = time.perf_counter() - t
    sec = local.attrs["seconds"]
    null = local.attrs["null"]
    timings += [("scan, local: null REML + rotation", sec["null_and_rotation"]),
                ("scan, local: markers", sec["markers"]),
                ("scan, local: total", total)]
    print(f"\nnull model ({null['method']}): h2 = {null['h2']:.8f}, variances "
          f"{ {k: round(v, 6) for k, v in null['variances'].items()} }, REML criterion "
          f"{null['reml_criterion']:.4f}")
    top = local.nsmallest(8, "p")
    print("\nsmallest p-values (true QTL: " + ", ".join(qtl) + ")")
    print(top.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"target: under 120 s on a 2-core machine -> {'met' if total < 120 else 'NOT met'} ({total:.1f} s)")

    # 3. memory against chunk size ------------------------------------------------------------------------
    sub_m = min(m, 20_000)
    sub_bed = bed if sub_m == m else _first_markers(bed, sub_m)
    mem_rows = []
    for cs in (250, 1000, 4000):
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t = time.perf_counter()
        r = mixedpy.scan(FORMULA, data, sub_bed, relmat=K, chunk_size=cs, variances=null["variances"],
                         progress=False)
        el = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        model = (8 * n * n + 16 * n * cs) / 2**20  # the rotation + a chunk and its temporaries
        mem_rows.append((cs, f"{peak / 2**20:,.0f}", f"{model:,.0f}", f"{el:.1f}", f"{sub_m / el:,.0f}"))
        del r
    print(f"\nmemory against chunk size ({sub_m:,} markers, null variances given; tracemalloc peak)")
    print(_table(mem_rows, ("chunk_size", "peak MiB", "8n^2 + 16n*chunk MiB", "seconds", "markers/s")))

    # 4. Dask LocalCluster --------------------------------------------------------------------------------
    if not args.no_dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            print("\ndask.distributed is not installed (pip install 'mixedpy[dask]'): Dask run skipped")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit="10GiB",
                                       silence_logs=logging.ERROR)
                client = Client(cluster)
            try:
                t = time.perf_counter()
                on_dask = mixedpy.scan(FORMULA, data, bed, relmat=K, chunk_size=args.chunk_size,
                                       client=client, progress=False)
                timings.append(("scan, Dask LocalCluster (2 workers x 1 thread): total",
                                time.perf_counter() - t))
            finally:
                client.close()
                cluster.close()
            cols = ["effect", "se", "statistic", "p"]
            a, b = on_dask[cols].to_numpy(float), local[cols].to_numpy(float)
            ok = np.isfinite(b)
            rel = np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300))
            same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
            print(f"\nDask vs local: max relative difference {rel:.2e} over effect/se/statistic/p "
                  f"(NaN pattern identical: {same_nan}); target 1e-10 -> {'met' if rel <= 1e-10 else 'NOT met'}")

    # 5. FaST-LMM side by side ----------------------------------------------------------------------------
    if not args.no_fastlmm:
        _fastlmm(data, K, bed, null, sids, timings, args.chunk_size)

    print("\ntimings")
    print(_table([(k, f"{v:.1f}") for k, v in timings], ("step", "seconds")))
    print(f"\npeak resident memory of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB (includes the simulation)")


def _first_markers(bed: str, sub_m: int) -> str:
    """A .bed fileset of the first sub_m markers, written next to the original."""
    from bed_reader import open_bed, to_bed
    src = Path(bed)
    dst = src.with_name(f"first{sub_m}.bed")
    with open_bed(src) as b:
        v = b.read(index=np.s_[:, :sub_m], dtype="float32")
        props = {"iid": b.iid, "fid": b.fid, "sid": b.sid[:sub_m], "chromosome": b.chromosome[:sub_m],
                 "bp_position": b.bp_position[:sub_m]}
    to_bed(dst, np.ascontiguousarray(v), properties=props)
    return str(dst)


def _fastlmm(data, K, bed, null, sids, timings, chunk_size) -> None:
    try:
        from fastlmm.association import single_snp
        from pysnptools.kernelreader import KernelData
        from pysnptools.snpreader import Bed, SnpData
    except Exception as exc:  # noqa: BLE001 - any install problem
        print(f"\nFaST-LMM could not be imported ({type(exc).__name__}: {exc}); install it with "
              "pip install fastlmm (it also needs six on recent Pythons). Comparison skipped.")
        return
    ids = data["id"].to_numpy()
    iid = np.column_stack([ids, ids]).astype(str)
    pheno = SnpData(iid=iid, sid=["y"], val=data[["y"]].to_numpy(float))
    covar = SnpData(iid=iid, sid=["sex"], val=data[["sex"]].to_numpy(float))
    K0 = KernelData(iid=iid, val=K.loc[ids, ids].to_numpy())

    t = time.perf_counter()
    ours = mixedpy.scan(FORMULA, data, bed, relmat=K, chunk_size=chunk_size, test="f", progress=False)
    timings.append(("mixedpy.scan(test='f'), null REML included", time.perf_counter() - t))
    rows = []
    for label, h2 in (("FaST-LMM, its own h2", None), ("FaST-LMM, h2 = mixedpy's", null["h2"])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            fl = single_snp(Bed(bed, count_A1=True), pheno, K0=K0, covar=covar, leave_out_one_chrom=False,
                            h2=h2, count_A1=True)
            el = time.perf_counter() - t
        timings.append((f"{label}: single_snp total", el))
        fl = fl.set_index("SNP").reindex(ours.index)
        rel, rel_sig, absd = _log10_diffs(ours["p"].to_numpy(), fl["PValue"].to_numpy(float))
        h2_fl = float(fl["Nullh2"].iloc[0]) if "Nullh2" in fl else (h2 if h2 is not None else np.nan)
        met = np.max(rel_sig, initial=0) <= 1e-3 and np.max(absd) <= 1e-3
        rows.append((label, f"{h2_fl:.8f}", f"{np.max(rel):.1e}", f"{np.median(rel):.1e}",
                     f"{np.max(rel_sig, initial=0):.1e} ({len(rel_sig)})", f"{np.max(absd):.1e}",
                     "met" if met else "NOT met"))
    print(f"\nFaST-LMM single_snp vs mixedpy.scan(test='f') on the same files; mixedpy h2 = {null['h2']:.8f}")
    print("differences of -log10 p (target 1e-3 relative; for p near 1, where -log10 p is near 0, the relative\n"
          "difference is meaningless and the absolute one is shown)")
    print(_table(rows, ("run", "h2", "rel max (all)", "rel median", "rel max (p<=0.1) (#)", "abs max",
                        "target")))


if __name__ == "__main__":
    main(sys.argv)
