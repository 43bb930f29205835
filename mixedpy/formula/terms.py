"""Frozen descriptions of a mixed-model formula; they hold strings only, never data.

Glossary
--------
response   the left-hand side expression (formulaic syntax), e.g. ``"Reaction"`` or ``"log(y)"``
fixed      the fixed-effects right-hand side (formulaic syntax), e.g. ``"1 + Days"``
RandomTerm one ``(expr | group)`` block after ``||`` and ``/`` expansion
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | group)``.

    Attributes
    ----------
    expr : str
        Right-hand side of the term's model matrix in formulaic syntax, e.g. ``"1 + Days"``.
    group : tuple of str
        Names of the columns whose interaction forms the grouping factor, e.g. ``("cask", "batch")``.
    name : str
        The grouping factor's name as lme4 writes it, e.g. ``"cask:batch"``.
    cov : str or None
        Covariance structure prefix of the term's k × k matrix G (``diag``, ``cs``, ``csh``,
        ``ar1``, ``fa``, ``rr`` …, :mod:`mixedpy.covariance`); None: lme4's unstructured G
        (also what ``us(...)`` gives).
    rank : int
        Number of factors k of ``fa(expr | g, k)`` and ``rr(expr | g, k)`` (0 otherwise).

    Examples
    --------
    >>> from mixedpy.formula.parse import parse_formula
    >>> parse_formula("Reaction ~ Days + (Days | Subject)").random[0]
    RandomTerm(expr='Days', group=('Subject',), name='Subject', cov=None, rank=0)
    >>> str(RandomTerm("1", ("g",), "g", cov="fa", rank=2))
    'fa(1 | g, 2)'
    """

    expr: str
    group: tuple[str, ...]
    name: str
    cov: str | None = None
    rank: int = 0

    def __str__(self) -> str:
        if self.cov is None:
            return f"({self.expr} | {self.name})"
        extra = f", {self.rank}" if self.cov in ("fa", "rr") else ""
        return f"{self.cov}({self.expr} | {self.name}{extra})"


@dataclass(frozen=True)
class ModelFormula:
    """A parsed mixed-model formula.

    Attributes
    ----------
    response : str
        Left-hand side (formulaic expression).
    fixed : str
        Fixed-effects right-hand side (formulaic syntax, ``"1"`` when only an intercept).
    random : tuple of RandomTerm
        Random-effects terms in the order written (``||`` and ``/`` already expanded).
    text : str
        The formula as the user wrote it.

    Examples
    --------
    >>> from mixedpy.formula.parse import parse_formula
    >>> f = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> f.response, f.fixed, [str(t) for t in f.random]
    ('Reaction', 'Days', ['(Days | Subject)'])
    """

    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    text: str

    @property
    def grouping_columns(self) -> tuple[str, ...]:
        """The grouping columns of all random terms, each once, in order of appearance.

        Examples
        --------
        >>> from mixedpy.formula.parse import parse_formula
        >>> parse_formula("y ~ 1 + (1 | a/b) + (1 | a)").grouping_columns
        ('b', 'a')
        """
        seen: dict[str, None] = {}
        for t in self.random:
            for g in t.group:
                seen[g] = None
        return tuple(seen)
