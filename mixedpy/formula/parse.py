"""lme4 formula syntax → :class:`ModelFormula`.

What is translated here (and nothing else: the fixed part goes to formulaic as it is):

* random terms ``(expr | g)``, ``(expr || g)`` (split into uncorrelated terms, as lme4 does),
  nested groups ``(1 | a/b)`` = ``(1 | a) + (1 | b:a)``, interaction groups ``(1 | a:b)``;
* covariance structure prefixes on random terms, ``diag(0 + env | g)``, ``cs(...)``, ``csh(...)``,
  ``ar1(...)``, ``fa(0 + env | g, 2)``, ``rr(0 + env | g, 1)`` (``us(...)`` is lme4's term as it is);
* ``x^2`` on a numeric column means the square (``I(x ** 2)``), as in R's formulas when written
  ``I(x^2)``; inside ``I(...)`` R's ``^`` is Python's ``**``;
* R-style dotted column names (``Informed.liking``) are quoted with backticks for formulaic.
"""
from __future__ import annotations

import keyword
import re
from collections.abc import Collection

from ..errors import FormulaError
from .terms import ModelFormula, RandomTerm

_NAME = re.compile(r"`[^`]*`|[A-Za-z_.][A-Za-z0-9_.]*")


def _scan(text: str) -> tuple[list[tuple[int, str, int]], str | None]:
    """(position, character, parenthesis depth after it) for every character outside quotes, and
    the quote left open at the end (None when all are closed)."""
    out, depth, quote = [], 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "`'\"":
            quote = ch
            continue
        depth += (ch == "(") - (ch == ")")
        out.append((i, ch, depth))
    return out, quote


def _check_balanced(text: str) -> None:
    chars, quote = _scan(text)
    for i, ch, depth in chars:
        if depth < 0:
            raise FormulaError(f"unbalanced parentheses in formula {text!r}: "
                               f"')' at position {i} has no matching '('")
    if quote:
        raise FormulaError(f"unclosed quote {quote} in formula {text!r}")
    depth = chars[-1][2] if chars else 0
    if depth:
        raise FormulaError(f"unbalanced parentheses in formula {text!r}: {depth} '(' not closed")


def _top_level_positions(text: str, chars: str) -> list[int]:
    """Positions of characters in ``chars`` that are outside parentheses and quotes."""
    return [i for i, ch, depth in _scan(text)[0] if depth == 0 and ch in chars]


def split_terms(text: str) -> list[tuple[str, str]]:
    """Split a right-hand side at top-level ``+``/``-`` into ``(sign, term)`` pairs.

    ``**`` and ``e-5`` style exponents never occur at top level outside parentheses in a
    formula, so a plain scan suffices.

    Examples
    --------
    >>> split_terms("1 + Days - x")
    [('+', '1'), ('+', 'Days'), ('-', 'x')]
    """
    pieces, sign, start = [], "+", 0
    for pos in _top_level_positions(text, "+-"):
        piece = text[start:pos].strip()
        if piece:
            pieces.append((sign, piece))
        elif pieces or sign == "-":
            raise FormulaError(f"empty term near position {pos} in {text!r}")
        sign, start = text[pos], pos + 1
    last = text[start:].strip()
    if not last:
        raise FormulaError(f"formula right-hand side {text!r} ends with an operator")
    pieces.append((sign, last))
    return pieces


def _bar_split(inner: str) -> tuple[str, str, bool] | None:
    """``"1 + x || g"`` → ``("1 + x", "g", False)``; None when the group has no top-level bar."""
    bars = _top_level_positions(inner, "|")
    if not bars:
        return None
    i = bars[0]
    double = i + 1 < len(inner) and inner[i + 1] == "|"
    if len(bars) > (2 if double else 1):
        raise FormulaError(f"random term ({inner}) has more than one '|'")
    lhs, rhs = inner[:i].strip(), inner[i + (2 if double else 1):].strip()
    if not lhs:
        raise FormulaError(f"random term ({inner}) has nothing before '|'; write (1 | group)")
    if not rhs:
        raise FormulaError(f"random term ({inner}) has no grouping factor after '|'")
    return lhs, rhs, not double


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _matching(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _matching(text: str, open_pos: int) -> int:
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _group_variables(part: str, term_text: str) -> list[str]:
    names = []
    for v in part.split(":"):
        v = _strip_parens(v).strip()
        if v.startswith("`") and v.endswith("`"):
            v = v[1:-1]
        if not v or not re.fullmatch(r"[^()+*|~^/]+", v):
            raise FormulaError(f"grouping factor {part!r} in random term {term_text} must be a "
                               "column name or an interaction a:b of column names")
        names.append(v.strip())
    return names


def expand_groups(group: str, term_text: str) -> list[tuple[tuple[str, ...], str]]:
    """Nested groups as lme4's ``findbars`` expands them: innermost first, each with its columns and
    lme4's name (R's deparse of ``c:(b:a)``).

    Examples
    --------
    >>> expand_groups("a/b/c", "(1 | a/b/c)")
    [(('c', 'b', 'a'), 'c:(b:a)'), (('b', 'a'), 'b:a'), (('a',), 'a')]
    """
    parts = [p for p in (_strip_parens(x) for x in group.split("/"))]
    if any(not p for p in parts):
        raise FormulaError(f"empty grouping factor in random term {term_text}")
    out, outer, name = [], [], ""
    for p in parts:
        here = _group_variables(p, term_text)
        inner = ":".join(here)
        name = inner if not name else f"{inner}:({name})" if ":" in name else f"{inner}:{name}"
        out.append((tuple(here + outer), name))
        outer = here + outer
    return out[::-1]


def _uncorrelated_pieces(lhs: str) -> list[str]:
    """``"1 + x + z"`` → ``["1", "0 + x", "0 + z"]`` (lme4's expansion of ``||``)."""
    intercept, others = True, []
    for sign, piece in split_terms(lhs):
        if piece in ("0", "1") or (sign == "-" and piece == "1"):
            intercept = piece == "1" and sign == "+"
        elif sign == "-":
            raise FormulaError(f"cannot remove term {piece!r} inside a random term ({lhs} || ...)")
        else:
            others.append(piece)
    return (["1"] if intercept else []) + [f"0 + {p}" for p in others]


def _random_terms(piece: str) -> list[RandomTerm] | None:
    if not (piece.startswith("(") and _matching(piece, 0) == len(piece) - 1):
        return None
    split = _bar_split(piece[1:-1])
    if split is None:
        return None
    lhs, group, correlated = split
    exprs = [lhs] if correlated else _uncorrelated_pieces(lhs)
    groups = expand_groups(group, piece)
    return [RandomTerm(expr=e, group=g, name=name) for e in exprs for g, name in groups]


#: prefixes of random terms naming the structure of their covariance matrix (mixedpy.covariance)
G_STRUCTURES = ("us", "diag", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "fa", "rr")


def _structured_terms(piece: str) -> list[RandomTerm] | None:
    """``diag(0 + env | g)`` → the term with ``cov="diag"``; ``fa(0 + env | g, 2)`` with rank 2;
    None when ``piece`` is not such a term.

    Examples
    --------
    >>> [str(t) for t in _structured_terms("fa(0 + env | g, 2)")]
    ['fa(0 + env | g, 2)']
    """
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)\s*(\(.*\))", piece, flags=re.DOTALL)
    if m is None or _matching(m.group(2), 0) != len(m.group(2)) - 1:
        return None
    name, inner = m.group(1), m.group(2)[1:-1]
    if not _top_level_positions(inner, "|"):
        return None
    if name.lower() not in G_STRUCTURES:
        raise FormulaError(f"random term {piece!r}: covariance structure {name!r} is unknown; use one of "
                           f"{', '.join(G_STRUCTURES)}")
    name = name.lower()
    commas = _top_level_positions(inner, ",")
    rank = 0
    if name in ("fa", "rr"):
        if len(commas) != 1:
            raise FormulaError(f"random term {piece!r}: {name} needs the number of factors, as "
                               f"{name}(0 + env | genotype, 1)")
        text = inner[commas[0] + 1:].strip()
        if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
            raise FormulaError(f"random term {piece!r}: the number of factors must be a positive "
                               f"integer, got {text!r}")
        rank, inner = int(text), inner[:commas[0]]
    elif commas:
        raise FormulaError(f"random term {piece!r}: {name}(...) takes no extra argument")
    split = _bar_split(inner)
    if split is None:
        return None
    lhs, group, correlated = split
    if not correlated:
        raise FormulaError(f"random term {piece!r}: '||' cannot be combined with a covariance "
                           f"structure; use diag({lhs} | {group}) for independent effects")
    cov = None if name == "us" else name
    return [RandomTerm(expr=lhs, group=g, name=nm, cov=cov, rank=rank)
            for g, nm in expand_groups(group, piece)]


def _rewrite_names(expr: str, columns: Collection[str], numeric: Collection[str]) -> str:
    """Backtick-quote dotted column names; ``x^k`` on a numeric column → ``I(x ** k)``;
    R's ``^`` inside ``I(...)`` → ``**``."""
    expr = re.sub(r"\bI\(", "I(", expr)
    out, i = [], 0
    while i < len(expr):
        if expr.startswith("I(", i) and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "._")):
            j = _matching(expr, i + 1)
            inner = _rewrite_names(expr[i + 2:j], columns, ()) if j > 0 else expr[i + 2:]
            out.append("I(" + inner.replace("^", "**") + ")")
            i = j + 1 if j > 0 else len(expr)
            continue
        m = _NAME.match(expr, i)
        if m and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "._")):
            name = m.group(0)
            bare = name[1:-1] if name.startswith("`") else name
            needs_quotes = not re.fullmatch(r"[A-Za-z_]\w*", bare) or keyword.iskeyword(bare)
            quoted = f"`{bare}`" if (bare in columns and needs_quotes) else name
            power = re.compile(r"\s*\^\s*(\d+)").match(expr, m.end())
            if power and bare in numeric:
                out.append(f"I({quoted} ** {power.group(1)})")
                i = power.end()
                continue
            out.append(quoted)
            i = m.end()
            continue
        if expr[i] in "'\"":
            end = expr.find(expr[i], i + 1)
            end = len(expr) - 1 if end < 0 else end
            out.append(expr[i:end + 1])
            i = end + 1
            continue
        out.append(expr[i])
        i += 1
    return "".join(out)


def parse_formula(text: str, columns: Collection[str] = (), numeric: Collection[str] = ()) -> ModelFormula:
    """Parse an lme4-style formula.

    Parameters
    ----------
    text : str
        e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    columns : collection of str
        The data's column names (used to quote R-style dotted names for formulaic).
    numeric : collection of str
        The numeric columns (on which ``x^2`` means the square).

    Returns
    -------
    ModelFormula

    Examples
    --------
    >>> f = parse_formula("y ~ x + (1 + x || g) + (1 | a/b)")
    >>> f.fixed
    'x'
    >>> [str(t) for t in f.random]
    ['(1 | g)', '(0 + x | g)', '(1 | b:a)', '(1 | a)']
    """
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string like 'y ~ x + (1 | g)', got {type(text).__name__}")
    _check_balanced(text)
    tildes = _top_level_positions(text, "~")
    if len(tildes) != 1:
        raise FormulaError(f"formula {text!r} needs exactly one '~' separating response and predictors"
                           if not tildes else f"formula {text!r} has more than one '~'")
    lhs, rhs = text[:tildes[0]].strip(), text[tildes[0] + 1:].strip()
    if not lhs:
        raise FormulaError(f"formula {text!r} has no response before '~'")
    if not rhs:
        raise FormulaError(f"formula {text!r} has nothing after '~'; write 'y ~ 1' for an intercept only")
    fixed, random = [], []
    for sign, piece in split_terms(rhs):
        terms = _random_terms(piece)
        if terms is None:
            terms = _structured_terms(piece)
        if terms is None:
            if "|" in piece and _top_level_positions(piece, "|"):
                raise FormulaError(f"random term {piece!r} must be enclosed in parentheses: ({piece})")
            fixed.append((sign, _rewrite_names(piece, columns, numeric)))
        elif sign == "-":
            raise FormulaError(f"cannot subtract a random term: -{piece}")
        else:
            random.extend(RandomTerm(_rewrite_names(t.expr, columns, numeric), t.group, t.name, t.cov, t.rank)
                          for t in terms)
    fixed_text = " ".join(f"{s} {p}" for s, p in fixed).strip().removeprefix("+ ")
    if not fixed or all(s == "-" for s, _ in fixed):
        fixed_text = ("1 " + fixed_text).strip()
    return ModelFormula(response=_rewrite_names(lhs, columns, numeric), fixed=fixed_text,
                        random=tuple(random), text=text)
