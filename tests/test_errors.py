"""Bad input raises a mixedpy error that is also the matching builtin and names the culprit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.datasets import load
from mixedpy.errors import (ColumnNotFoundError, DataError, DataTypeError, FormulaError, MixedpyError,
                            ModelSpecError)

SLEEP_F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture
def sleep():
    return load("sleepstudy")


def _raises(exc_type, builtin, formula, data, *fragments, **kw):
    with pytest.raises(exc_type) as info:
        mixedpy.fit(formula, data, **kw)
    err = info.value
    assert isinstance(err, MixedpyError)
    assert isinstance(err, builtin)
    msg = str(err)
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


# --- unknown columns ------------------------------------------------------------------------------------
def test_unknown_fixed_column(sleep):
    msg = _raises(ColumnNotFoundError, KeyError, "Reaction ~ Dayz + (Days | Subject)", sleep, "Dayz")
    assert "did you mean" in msg and "'Days'" in msg


def test_unknown_column_in_random_term(sleep):
    msg = _raises(ColumnNotFoundError, KeyError, "Reaction ~ Days + (Dayz | Subject)", sleep, "Dayz")
    assert "'Days'" in msg


def test_unknown_grouping_factor(sleep):
    msg = _raises(ColumnNotFoundError, KeyError, "Reaction ~ Days + (Days | Subjekt)", sleep, "Subjekt")
    assert "'Subject'" in msg


def test_unknown_response(sleep):
    _raises(ColumnNotFoundError, KeyError, "Reactoin ~ Days + (Days | Subject)", sleep, "Reactoin", "'Reaction'")


def test_unknown_column_without_close_match(sleep):
    msg = _raises(ColumnNotFoundError, KeyError, "Reaction ~ Days + zzzqqq + (1 | Subject)", sleep, "zzzqqq")
    assert "did you mean" not in msg


def test_unknown_column_in_nested_group():
    _raises(ColumnNotFoundError, KeyError, "strength ~ 1 + (1 | batch/casks)", load("pastes"), "casks", "'cask'")


def test_column_error_is_catchable_as_keyerror(sleep):
    with pytest.raises(KeyError):
        mixedpy.fit("Reaction ~ Dayz + (Days | Subject)", sleep)


# --- the data argument ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data, name", [("not a frame", "str"), (None, "NoneType"), (3.5, "float"), (7, "int")])
def test_data_not_a_dataframe(data, name):
    _raises(DataTypeError, TypeError, SLEEP_F, data, "DataFrame", name)


def test_non_numeric_response(sleep):
    sleep = sleep.copy()
    sleep["label"] = np.where(sleep["Days"] > 4, "late", "early")
    _raises(DataTypeError, TypeError, "label ~ Days + (1 | Subject)", sleep, "label")


def test_categorical_response(sleep):
    _raises(DataTypeError, TypeError, "Subject ~ Days + (1 | Days)", sleep, "Subject")


@pytest.mark.parametrize("column, value", [("Days", np.inf), ("Reaction", -np.inf)])
def test_infinite_values(sleep, column, value):
    sleep = sleep.copy()
    sleep[column] = sleep[column].astype(float)
    sleep.loc[7, column] = value
    _raises(DataError, ValueError, SLEEP_F, sleep, repr(column), "infinite")


# --- options ------------------------------------------------------------------------------------------
def test_bad_method(sleep):
    _raises(ModelSpecError, ValueError, SLEEP_F, sleep, "foo", method="foo")


def test_reml_false_contradicts_method_reml(sleep):
    _raises(ModelSpecError, ValueError, SLEEP_F, sleep, "reml=False", reml=False, method="reml")


def test_as_many_random_effects_as_observations(sleep):
    # lme4: "number of observations (=36) <= number of random effects (=36) for term (Days | Subject)"
    _raises(DataError, ValueError, SLEEP_F, sleep[sleep["Days"].isin([0, 5])], "(=36)", "(Days | Subject)")


def test_bad_optimizer(sleep):
    _raises(ModelSpecError, ValueError, SLEEP_F, sleep, "foo", optimizer="foo")


def test_bad_reml_flag(sleep):
    _raises(ModelSpecError, ValueError, SLEEP_F, sleep, "yes", reml="yes")


def test_method_is_case_insensitive(sleep):
    a = mixedpy.fit("Reaction ~ Days + (1 | Subject)", sleep, method="ML")
    b = mixedpy.fit("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    assert not a.reml
    np.testing.assert_allclose(a.deviance, b.deviance, rtol=1e-10)


# --- grouping factors ---------------------------------------------------------------------------------
def test_single_level_grouping_factor(sleep):
    sleep = sleep.copy()
    sleep["site"] = "only"
    _raises(DataError, ValueError, "Reaction ~ Days + (1 | site)", sleep, "site", "1 level")


def test_grouping_factor_with_one_level_per_observation(sleep):
    sleep = sleep.copy()
    sleep["obs"] = np.arange(len(sleep))
    _raises(DataError, ValueError, "Reaction ~ Days + (1 | obs)", sleep, "obs", "180")


def test_single_level_after_dropping_rows():
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0], "g": list("aaabbb"), "x": [1.0, 2, 3, 4, np.nan, np.nan]})
    with pytest.warns(mixedpy.errors.RowsDroppedWarning):
        with pytest.raises(DataError, match="'g'"):
            mixedpy.fit("y ~ x + (1 | g)", d)


# --- formula errors through fit -----------------------------------------------------------------------
def test_formula_error_is_valueerror(sleep):
    _raises(FormulaError, ValueError, "Reaction ~ Days + (Days | )", sleep, "(Days | )")


def test_too_few_observations():
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 3.0], "z": [1.0, 0.0, 5.0]})
    with pytest.raises(DataError):
        mixedpy.fit("y ~ x + z", d)


def test_all_rows_missing():
    d = pd.DataFrame({"y": [np.nan] * 4, "x": [1.0, 2.0, 3.0, 4.0], "g": list("aabb")})
    with pytest.warns(mixedpy.errors.RowsDroppedWarning):
        with pytest.raises(DataError):
            mixedpy.fit("y ~ x + (1 | g)", d)


@pytest.mark.parametrize("variances, fragment", [
    ({"Batch": -1.0, "Residual": 1.0}, "'Batch'"),
    ({"Batch": float("nan"), "Residual": 1.0}, "'Batch'"),
    ({"Batch": 1.0, "Residual": 0.0}, "residual variance"),
    ({"Batch": 1.0}, "Residual"),
    ({"Foo": 1.0, "Residual": 1.0}, "Foo"),
])
def test_known_variances_are_checked(variances, fragment):
    d = mixedpy.datasets.load("dyestuff")
    with pytest.raises(mixedpy.errors.ModelSpecError, match=fragment) as info:
        mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, variances=variances)
    assert isinstance(info.value, ValueError)
