"""parse_formula: lme4 syntax → fixed / random parts, and the formula features seen through fit()."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.datasets import load
from mixedpy.errors import FormulaError, MixedpyError
from mixedpy.formula import parse_formula


def _terms(f):
    return [(t.expr.replace(" ", ""), t.group, t.name) for t in f.random]


def _nospace(s: str) -> str:
    return s.replace(" ", "")


# --- fixed / random split ----------------------------------------------------------------------------
def test_fixed_random_split():
    f = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert f.response == "Reaction"
    assert _nospace(f.fixed) in ("Days", "1+Days")
    assert _terms(f) == [("Days", ("Subject",), "Subject")]
    assert f.text == "Reaction ~ Days + (Days | Subject)"


def test_random_terms_anywhere_in_rhs():
    f = parse_formula("y ~ (1 | g) + x + (0 + x | h) + z")
    assert _nospace(f.fixed) in ("x+z", "1+x+z")
    assert _terms(f) == [("1", ("g",), "g"), ("0+x", ("h",), "h")]
    assert f.grouping_columns == ("g", "h")


def test_intercept_only_fixed_part():
    f = parse_formula("y ~ (1 | g)")
    assert _nospace(f.fixed) == "1"
    assert _terms(f) == [("1", ("g",), "g")]


def test_no_random_terms():
    f = parse_formula("y ~ x * z")
    assert f.random == ()
    assert _nospace(f.fixed) == "x*z"


def test_spaces_do_not_matter():
    a = parse_formula("y~x+(1+x|g)")
    b = parse_formula("  y  ~   x +  ( 1 + x  |  g )  ")
    assert a.response.strip() == b.response.strip()
    assert _nospace(a.fixed) == _nospace(b.fixed)
    assert _terms(a) == _terms(b)


# --- || expansion ----------------------------------------------------------------------------------
def test_double_bar_expansion():
    f = parse_formula("y ~ x + (1 + x || g)")
    assert _terms(f) == [("1", ("g",), "g"), ("0+x", ("g",), "g")]


def test_double_bar_implicit_intercept():
    f = parse_formula("y ~ x + (x || g)")
    assert _terms(f) == [("1", ("g",), "g"), ("0+x", ("g",), "g")]


def test_double_bar_three_terms_without_intercept():
    f = parse_formula("y ~ 1 + (0 + x + z || g)")
    assert _terms(f) == [("0+x", ("g",), "g"), ("0+z", ("g",), "g")]


def test_double_bar_fit_matches_explicit_split():
    d = load("sleepstudy")
    a = mixedpy.fit("Reaction ~ Days + (Days || Subject)", d)
    b = mixedpy.fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d)
    assert len(a.theta) == 2
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-10)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-6)


# --- nesting and interactions ---------------------------------------------------------------------
def test_nested_groups():
    f = parse_formula("y ~ 1 + (1 | a/b)")
    assert _terms(f) == [("1", ("b", "a"), "b:a"), ("1", ("a",), "a")]  # lme4's findbars order


def test_nested_three_levels():
    f = parse_formula("y ~ 1 + (1 | a/b/c)")
    assert [t.name for t in f.random] == ["c:(b:a)", "b:a", "a"]  # R's deparse of lme4's terms


def test_nested_four_levels_and_uncorrelated():
    f = parse_formula("y ~ 1 + (1 + x || a/b/c/d)")
    names = [t.name for t in f.random]
    assert names[:4] == ["d:(c:(b:a))", "c:(b:a)", "b:a", "a"] and names[4:] == names[:4]
    assert [t.expr for t in f.random] == ["1"] * 4 + ["0 + x"] * 4
    assert f.random[0].group == ("d", "c", "b", "a")


def test_interaction_group():
    f = parse_formula("y ~ 1 + (1 | a:b)")
    assert _terms(f) == [("1", ("a", "b"), "a:b")]


def test_nested_fit_equals_explicit_interaction():
    d = load("pastes")
    a = mixedpy.fit("strength ~ 1 + (1 | batch/cask)", d)
    b = mixedpy.fit("strength ~ 1 + (1 | batch) + (1 | batch:cask)", d)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-10)
    assert sorted(a.ngroups.values()) == sorted(b.ngroups.values()) == [10, 30]
    # the interaction groups are the observed batch × cask combinations
    assert a.ngroups["cask:batch"] == d.groupby(["batch", "cask"], observed=True).ngroups


# --- intercept removal ---------------------------------------------------------------------------
@pytest.mark.parametrize("formula", ["Reaction ~ 0 + Days + (1 | Subject)",
                                     "Reaction ~ Days - 1 + (1 | Subject)"])
def test_no_intercept(formula):
    m = mixedpy.fit(formula, load("sleepstudy"))
    assert list(m.fixef.index) == ["Days"]


def test_zero_plus_and_minus_one_agree():
    d = load("sleepstudy")
    a = mixedpy.fit("Reaction ~ 0 + Days + (1 | Subject)", d)
    b = mixedpy.fit("Reaction ~ Days - 1 + (1 | Subject)", d)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-12)


def test_random_term_without_intercept():
    m = mixedpy.fit("Reaction ~ Days + (0 + Days | Subject)", load("sleepstudy"))
    assert list(m.ranef["Subject"].columns) == ["Days"]


# --- ^ on numeric columns -------------------------------------------------------------------------
def test_power_rewritten_on_numeric():
    f = parse_formula("y ~ t + t^2 + (1 | g)", columns=["y", "t", "g"], numeric=["y", "t"])
    assert _nospace(f.fixed) == "t+I(t**2)"


def test_power_fit_equals_I():
    d = load("sleepstudy")
    a = mixedpy.fit("Reaction ~ Days + Days^2 + (1 | Subject)", d)
    b = mixedpy.fit("Reaction ~ Days + I(Days**2) + (1 | Subject)", d)
    assert len(a.fixef) == 3
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-12)
    # and the quadratic coefficient is the one of a design with the square in it
    X = np.column_stack([np.ones(len(d)), d["Days"], d["Days"] ** 2])
    assert a.fixed.X.shape == X.shape
    np.testing.assert_allclose(a.fixed.X, X)


def test_R_power_inside_I():
    d = load("sleepstudy")
    a = mixedpy.fit("Reaction ~ Days + I(Days^2) + (1 | Subject)", d)
    b = mixedpy.fit("Reaction ~ Days + I(Days**2) + (1 | Subject)", d)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-8)


# --- names ------------------------------------------------------------------------------------------
def _renamed_sleepstudy():
    d = load("sleepstudy")
    return d.rename(columns={"Days": "Informed.liking", "Reaction": "my reaction", "Subject": "Sub.ject"})


def test_dotted_names_in_fit():
    d0 = load("sleepstudy")
    ref = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d0)
    m = mixedpy.fit("`my reaction` ~ Informed.liking + (Informed.liking | Sub.ject)", _renamed_sleepstudy())
    assert list(m.fixef.index) == ["(Intercept)", "Informed.liking"]
    assert list(m.ngroups) == ["Sub.ject"]
    np.testing.assert_allclose(m.objective, ref.objective, rtol=1e-10)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-6)


def test_backticked_names_in_fit():
    d0 = load("sleepstudy")
    ref = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d0)
    m = mixedpy.fit("`my reaction` ~ `Informed.liking` + (`Informed.liking` | `Sub.ject`)",
                    _renamed_sleepstudy())
    np.testing.assert_allclose(m.objective, ref.objective, rtol=1e-10)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-6)


def test_dotted_name_quoted_by_parser():
    f = parse_formula("y ~ Informed.liking + (1 | g)", columns=["y", "Informed.liking", "g"])
    assert _nospace(f.fixed) == "`Informed.liking`"


def test_dotted_name_squared():
    d = _renamed_sleepstudy()
    a = mixedpy.fit("`my reaction` ~ Informed.liking^2 + (1 | Sub.ject)", d)
    b = mixedpy.fit("Reaction ~ I(Days**2) + (1 | Subject)", load("sleepstudy"))
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-8)


# --- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, fragment", [
    ("y x + (1 | g)", "~"),                 # missing ~
    ("y ~ x ~ z", "~"),                     # two ~
    ("y ~ x + (1 | g", "parenthes"),        # unbalanced (
    ("y ~ x + (1 | g))", "parenthes"),      # unbalanced )
    ("y ~ x + (1 | )", "group"),            # empty group
    ("y ~ x + ( | g)", "|"),                # empty lhs
    ("y ~ x + x | g", "parenthes"),         # bare bar
    ("y ~ x + (1 | g | h)", "|"),           # two bars
    ("~ x + (1 | g)", "response"),          # no response
    ("y ~ ", "~"),                          # nothing after ~
])
def test_formula_errors(text, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MixedpyError)
    assert fragment in str(info.value)


def test_formula_not_a_string():
    with pytest.raises(FormulaError):
        parse_formula(42)


@pytest.mark.parametrize("text", ["y x", "y ~ x + (1 | )", "y ~ x + x | g", "y ~ (1 | g | h)"])
def test_formula_errors_through_fit(text):
    df = pd.DataFrame({"y": np.arange(8.0), "x": np.arange(8.0) % 3, "g": list("aabbccdd"),
                       "h": list("abababab")})
    with pytest.raises(FormulaError):
        mixedpy.fit(text, df)


def test_keyword_arguments_inside_calls_are_not_columns():
    import pandas as pd

    d = pd.DataFrame({"y": [3.4, 3.7, 3.2, 2.9, 2.5, 3.1, 2.6],
                      "g": ["qq", "qq", "qq", "Qq", "Qq", "QQ", "QQ"]})
    m = mixedpy.fit("y ~ C(g, levels=['qq', 'Qq', 'QQ'])", d)
    means = d.groupby("g")["y"].mean()
    assert m.fixef.iloc[0] == pytest.approx(means["qq"])
    assert m.fixef.iloc[1] == pytest.approx(means["Qq"] - means["qq"])


# --- plain designs (built without formulaic) agree with formulaic ------------------------------------
PLAIN_EXPRS = ["x", "1", "0 + x", "x + z", "z + x", "x + 1", "1 + x + z", "x + x", "0 + x + z", "-1 + z"]


@pytest.mark.parametrize("expr", PLAIN_EXPRS)
def test_plain_design_matches_formulaic(expr):
    import formulaic

    from mixedpy.design.fixed import fixed_design, rename, term_positions
    from mixedpy.design.plain import plain_columns

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.normal(size=12), "x": rng.integers(0, 9, 12), "z": rng.normal(size=12)})
    assert plain_columns(expr, df) is not None
    mm = formulaic.model_matrix(expr, df)
    fd = fixed_design("y", expr, df)
    np.testing.assert_array_equal(fd.X, np.asarray(mm, dtype=float))
    assert fd.names == rename(mm.columns)
    assert fd.terms == term_positions(mm.model_spec.term_indices, np.arange(mm.shape[1]))
    assert list(fd.spec.term_indices) == list(mm.model_spec.term_indices)  # the lazy formulaic spec


@pytest.mark.parametrize("expr", ["f", "x:z", "np.log(z + 5)", "I(x ** 2)", "x - 1", "b", "`x`"])
def test_non_plain_expressions_go_to_formulaic(expr):
    from mixedpy.design.plain import plain_columns

    df = pd.DataFrame({"x": [1.0, 2.0], "z": [3.0, 4.0], "f": ["a", "b"], "b": [True, False]})
    assert plain_columns(expr, df) is None
