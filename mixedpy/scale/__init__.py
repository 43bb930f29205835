"""Scaling out: many models at once and genome-wide marker scans, locally or on a Dask cluster.

=====================  ==========================================================================
``fit_many``           one fit per group of ``by`` and/or per response; a tidy table of all of them
``scan``               marker scan (GWAS) against a mixed model with a relationship matrix (P3D)
``plots.manhattan``    Manhattan plot of a scan
``plots.qq_pvalues``   QQ plot of a scan's p-values (with the genomic inflation factor λ)
=====================  ==========================================================================

Dask (``pip install "mixedpy[dask]"``) and bed-reader (``pip install "mixedpy[gwas]"``) are imported
only when used.
"""
from .fit_many import fit_many
from .scan import scan

__all__ = ["fit_many", "scan"]
