"""Sparse linear algebra used by the objective: a symmetric sparse factorization with fixed pattern."""
from .sparse_ldl import SparseLDL

__all__ = ["SparseLDL"]
