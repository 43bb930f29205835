"""Model formulas in lme4 syntax: parsing into frozen descriptions (no data involved)."""
from .parse import parse_formula
from .terms import ModelFormula, RandomTerm

__all__ = ["parse_formula", "ModelFormula", "RandomTerm"]
