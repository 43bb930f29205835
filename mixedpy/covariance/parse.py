"""SPEC strings of residual structures → :class:`ResidualTerm` (no data involved).

Grammar (names as SAS PROC MIXED / R's mmrm)::

    het(g)                                  one residual variance per level of g
    NAME(time | subject)                    NAME in us, diag, cs, csh, ar1, ar1h, toep, toeph, ad, adh
    NAME(time | group / subject)            a separate parameter set per level of group
    sp_exp(t | subject), sp_exp(x, y | block)    exponential in Euclidean distance
    ar1xar1(row, col | block)               separable AR(1) ⊗ AR(1)

Without ``| subject`` (spatial structures only) all observations form one block.

Examples
--------
>>> parse_residual("us(AVISIT | ARMCD / USUBJID)")
ResidualTerm(name='us', coords=('AVISIT',), group='ARMCD', subject='USUBJID', text='us(AVISIT | ARMCD / USUBJID)')
>>> parse_residual("het(env)").group
'env'
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaError
from . import STRUCTURES

SPATIAL = ("sp_exp", "ar1xar1")
_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`"


@dataclass(frozen=True)
class ResidualTerm:
    """A parsed residual SPEC.

    Attributes
    ----------
    name : str
        Structure name (``"us"``, ``"het"`` …).
    coords : tuple of str
        The time factor (one column) or the coordinate columns.
    group : str or None
        Column whose levels get separate parameters (``het(g)``, ``us(t | g / s)``).
    subject : str or None
        Column of the subjects (blocks); None: every row its own (het), or one block (spatial).
    text : str
        The SPEC as given.

    Examples
    --------
    >>> t = parse_residual('us(AVISIT | ARMCD / USUBJID)')
    >>> t.name, t.coords, t.group, t.subject
    ('us', ('AVISIT',), 'ARMCD', 'USUBJID')
    """

    name: str
    coords: tuple
    group: str | None
    subject: str | None
    text: str

    @property
    def columns(self) -> list[str]:
        """Every data column the SPEC refers to.

        Examples
        --------
        >>> parse_residual('us(AVISIT | ARMCD / USUBJID)').columns
        ['AVISIT', 'ARMCD', 'USUBJID']
        >>> parse_residual('sp_exp(x, y | block)').columns
        ['x', 'y', 'block']
        """
        return [c for c in (*self.coords, self.group, self.subject) if c is not None]


def _column(token: str, spec: str, role: str) -> str:
    token = token.strip()
    if not re.fullmatch(_NAME, token):
        raise FormulaError(f"residual={spec!r}: {role} {token!r} is not a column name")
    return token.strip("`")


def parse_residual(spec: str) -> ResidualTerm:
    """Parse a SPEC string (see the module docstring); raises FormulaError naming the problem.

    Examples
    --------
    >>> parse_residual('ar1(Days | Subject)')
    ResidualTerm(name='ar1', coords=('Days',), group=None, subject='Subject', text='ar1(Days | Subject)')
    >>> parse_residual('het(env)').group
    'env'
    """
    if not isinstance(spec, str):
        raise FormulaError(f"residual must be a string such as 'us(AVISIT | USUBJID)', got {type(spec).__name__}")
    m = re.fullmatch(r"\s*([A-Za-z0-9_]+)\s*\((.*)\)\s*", spec)
    if m is None:
        raise FormulaError(f"residual={spec!r} is not of the form name(time | subject), e.g. 'ar1(AVISIT | USUBJID)'")
    name, inner = m.group(1).lower(), m.group(2)
    known = sorted([*STRUCTURES, "het"])
    if name not in known:
        raise FormulaError(f"residual structure {m.group(1)!r} is unknown; use one of {', '.join(known)}")
    if name == "het":
        if "|" in inner or "," in inner or not inner.strip():
            raise FormulaError(f"residual={spec!r}: het takes one grouping column, as het(env)")
        return ResidualTerm("het", (), _column(inner, spec, "grouping factor"), None, spec)
    left, bar, right = inner.partition("|")
    coords = tuple(_column(c, spec, "coordinate" if name in SPATIAL else "time factor")
                   for c in left.split(","))
    group = subject = None
    if bar:
        parts = right.split("/")
        if len(parts) > 2:
            raise FormulaError(f"residual={spec!r}: use 'time | subject' or 'time | group / subject'")
        subject = _column(parts[-1], spec, "subject")
        group = _column(parts[0], spec, "group") if len(parts) == 2 else None
    elif name not in SPATIAL:
        raise FormulaError(f"residual={spec!r}: {name} needs a subject, as {name}({left.strip()} | subject)")
    if name == "ar1xar1" and len(coords) != 2:
        raise FormulaError(f"residual={spec!r}: ar1xar1 needs two coordinates, as ar1xar1(row, col | block)")
    if name not in SPATIAL and len(coords) != 1:
        raise FormulaError(f"residual={spec!r}: {name} takes one time factor before '|'")
    return ResidualTerm(name, coords, group, subject, spec)
