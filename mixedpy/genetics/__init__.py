"""Quantitative genetics: pedigrees (A, A⁻¹, inbreeding), genomic relationships, relmat terms."""
from .grm import grm
from .pedigree import Pedigree

__all__ = ["Pedigree", "grm"]
