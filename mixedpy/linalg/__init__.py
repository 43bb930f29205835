"""Sparse linear algebra used by the objective: a symmetric sparse factorization with fixed pattern."""
from .cholesky import SparseLDL

__all__ = ["SparseLDL"]
