"""Any DataFrame in (pandas with NumPy, nullable or pyarrow dtypes, polars, pyarrow tables): the same
fit as from the NumPy-backed pandas frame; categorical level order respected; bad columns named;
the caller's frame never modified. Progress bars quiet when nobody watches."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.design.frame import as_dataframe
from mixedpy.errors import ColumnNotFoundError, DataTypeError, MixedpyError

FORMULA = "Reaction ~ Days + phase + (Days | Subject)"


def sleep_with_phase() -> pd.DataFrame:
    d = mixedpy.datasets.load("sleepstudy")
    # a text factor in the fixed part whose level order is not alphabetical
    d["phase"] = pd.Categorical(np.where(d.Days < 5, "late", "early"), categories=["late", "early"])
    return d


def csv_text(d: pd.DataFrame) -> str:
    buf = io.StringIO()
    d.to_csv(buf, index=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def base():
    return mixedpy.fit(FORMULA, sleep_with_phase())


@pytest.fixture(scope="module")
def base_text():
    """The same data with phase as plain text (alphabetical levels: 'early' is the reference)."""
    d = sleep_with_phase()
    d["phase"] = d["phase"].astype(str).astype(object)
    return mixedpy.fit(FORMULA, d)


def same_fit(m, ref):
    assert list(m.coef_table.index) == list(ref.coef_table.index)
    np.testing.assert_allclose(m.coef_table.to_numpy(dtype=float), ref.coef_table.to_numpy(dtype=float),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(m.loglik, ref.loglik, rtol=1e-10)
    np.testing.assert_allclose(m.varcorr["variance"].to_numpy(), ref.varcorr["variance"].to_numpy(), rtol=1e-6)
    assert list(m.ranef["Subject"].index) == list(ref.ranef["Subject"].index)


def pandas_variants() -> dict:
    d = sleep_with_phase()
    text = csv_text(d)
    return {
        "convert_dtypes": (d.convert_dtypes(), "categorical"),
        "read_csv pyarrow": (pd.read_csv(io.StringIO(text), dtype_backend="pyarrow"), "text"),
        "read_csv nullable": (pd.read_csv(io.StringIO(text), dtype_backend="numpy_nullable"), "text"),
        "string dtype": (d.assign(phase=d.phase.astype(str).astype("string")), "text"),
        "pyarrow category": (d.assign(phase=d.phase.astype(str).astype("string[pyarrow]").astype("category")),
                             "text"),
    }


@pytest.mark.parametrize("name", list(pandas_variants()))
def test_pandas_backends_give_the_same_fit(name, base, base_text):
    df, kind = pandas_variants()[name]
    before = df.copy()
    m = mixedpy.fit(FORMULA, df)
    same_fit(m, base if kind == "categorical" else base_text)
    pd.testing.assert_frame_equal(df, before)  # never modified, dtypes included


def test_polars_frames_give_the_same_fit(base, base_text):
    pl = pytest.importorskip("polars")
    d = sleep_with_phase()
    plain = pl.from_pandas(d.assign(phase=d.phase.astype(str), Subject=d.Subject.astype(str)))
    same_fit(mixedpy.fit(FORMULA, plain), base_text)
    # a polars Enum keeps its level order, as a pandas Categorical does
    enum = plain.with_columns(pl.col("phase").cast(pl.Enum(["late", "early"])))
    same_fit(mixedpy.fit(FORMULA, enum), base)
    # a polars Categorical has no order of its own: levels sort as text
    cat = plain.with_columns(pl.col("phase").cast(pl.Categorical), pl.col("Subject").cast(pl.Categorical))
    same_fit(mixedpy.fit(FORMULA, cat), base_text)
    with pytest.raises(DataTypeError, match="lazy"):
        mixedpy.fit(FORMULA, plain.lazy())


def test_pyarrow_tables_give_the_same_fit(base):
    pa = pytest.importorskip("pyarrow")
    d = sleep_with_phase()
    table = pa.Table.from_pandas(d, preserve_index=False)  # categoricals become dictionaries
    same_fit(mixedpy.fit(FORMULA, table), base)


def test_nullable_missing_values_drop_the_same_rows():
    d = sleep_with_phase()
    d.loc[[3, 50], "Reaction"] = np.nan
    d.loc[[7], "phase"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixedpy.errors.RowsDroppedWarning)
        ref = mixedpy.fit(FORMULA, d)
        m = mixedpy.fit(FORMULA, d.convert_dtypes())
        arrow = mixedpy.fit(FORMULA, pd.read_csv(io.StringIO(csv_text(d)), dtype_backend="pyarrow"))
    assert list(m.dropped_rows) == [3, 7, 50] == list(ref.dropped_rows)
    np.testing.assert_allclose(m.loglik, ref.loglik, rtol=1e-10)
    assert list(arrow.dropped_rows) == [3, 7, 50]


def test_category_order_is_respected_in_fixed_and_random_parts():
    d = mixedpy.datasets.load("sleepstudy")
    order = list(d.Subject.cat.categories[::-1])
    d["Subject"] = d.Subject.cat.reorder_categories(order)
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    assert list(m.ranef["Subject"].index) == [str(s) for s in order]
    pa = pytest.importorskip("pyarrow")
    ma = mixedpy.fit("Reaction ~ Days + (Days | Subject)", pa.Table.from_pandas(d))
    assert list(ma.ranef["Subject"].index) == [str(s) for s in order]


def test_polars_response_is_found():
    pl = pytest.importorskip("polars")
    d = mixedpy.datasets.load("sleepstudy")
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", pl.from_pandas(d))
    assert round(m.reml_criterion, 4) == 1743.6283


def test_predict_fit_many_and_scan_take_other_frames():
    pl = pytest.importorskip("polars")
    d = sleep_with_phase()
    m = mixedpy.fit(FORMULA, d)
    np.testing.assert_allclose(m.predict(pl.from_pandas(d.head())).to_numpy(), m.predict(d.head()).to_numpy())
    kw = {"by": "phase", "n_jobs": 1, "progress": False}
    t = mixedpy.fit_many("Reaction ~ Days + (1 | Subject)", pl.from_pandas(d.assign(phase=d.phase.astype(str))), **kw)
    ref = mixedpy.fit_many("Reaction ~ Days + (1 | Subject)", d.assign(phase=d.phase.astype(str)), **kw)
    assert sorted(t.phase.unique()) == ["early", "late"] and (t.error == "").all()
    np.testing.assert_allclose(t.estimate.to_numpy(), ref.estimate.to_numpy(), rtol=1e-8)


@pytest.mark.parametrize("column, value, message", [
    ("Days", [[1]], "column 'Days' holds list values"),
    ("Days", pd.Timestamp("2020-01-01"), "column 'Days' holds dates or times"),
    ("Days", 1 + 1j, "column 'Days' holds complex numbers"),
])
def test_bad_columns_are_named(column, value, message):
    d = mixedpy.datasets.load("sleepstudy")
    d[column] = pd.Series([value] * len(d), index=d.index)
    with pytest.raises(MixedpyError, match=message):
        mixedpy.fit("Reaction ~ Days + (1 | Subject)", d)


def test_bad_inputs_in_other_frames_are_mixedpy_errors():
    pl = pytest.importorskip("polars")
    d = pl.from_pandas(mixedpy.datasets.load("sleepstudy"))
    with pytest.raises(ColumnNotFoundError, match="'Reactio'.*did you mean 'Reaction'"):
        mixedpy.fit("Reactio ~ Days + (1 | Subject)", d)
    with pytest.raises(DataTypeError, match="column 'Days' holds list values"):
        mixedpy.fit("Reaction ~ Days + (1 | Subject)", d.with_columns(pl.concat_list("Days").alias("Days")))
    with pytest.raises(DataTypeError, match="data must be a DataFrame"):
        mixedpy.fit("Reaction ~ Days + (1 | Subject)", "sleepstudy.csv")


def test_numpy_backed_pandas_frames_pass_through_unchanged():
    d = mixedpy.datasets.load("sleepstudy")
    assert as_dataframe(d) is d
    out = as_dataframe(d.convert_dtypes())
    assert all(isinstance(t, (np.dtype, pd.CategoricalDtype)) or str(t) == "str" for t in out.dtypes)


# --- progress bars --------------------------------------------------------------------------------
def test_progress_is_quiet_when_not_a_terminal(capsys):
    d = mixedpy.datasets.load("dyestuff")
    mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", d, n_iter=400, burn=10, seed=1)  # default: automatic
    assert capsys.readouterr().err == ""  # pytest's captured stderr is not a terminal


def test_progress_asked_for_writes_few_lines_to_a_file(capsys):
    d = mixedpy.datasets.load("dyestuff")
    mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", d, n_iter=3000, burn=10, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "Gibbs" in err
    assert err.count("\r") + err.count("\n") < 10  # not thousands of updates


def test_one_name_for_the_progress_option():
    import inspect

    for f in (mixedpy.fit_bayes, mixedpy.fit_many, mixedpy.scan):
        params = inspect.signature(f).parameters
        assert "progress" in params and "progress_bar" not in params
        assert params["progress"].default is None
    with pytest.raises(MixedpyError, match="progress must be"):
        mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), n_iter=20, burn=5,
                          progress="yes")


# --- presentation -----------------------------------------------------------------------------------
def test_result_html_is_the_full_summary():
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    html = m._repr_html_()
    for piece in ("Scaled residuals", "Random effects", "Fixed effects", "Signif. codes",
                  "REML criterion at convergence", "Correlation of fixed effects"):
        assert piece in html


def test_mme_display_is_short():
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    text = repr(m.mme())
    assert text.startswith("Henderson's mixed model equations") and len(text.splitlines()) < 20
    assert "array(" not in text
    assert list(m.mme().table.columns) == ["C_diag", "rhs", "solution"]


def test_compare_names_models_by_formula_and_notes_the_ml_refit():
    d = mixedpy.datasets.load("sleepstudy")
    m0 = mixedpy.fit("Reaction ~ 1 + (Days | Subject)", d)
    m1 = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    t = mixedpy.compare(m1, m0)
    assert list(t.index) == ["Reaction ~ 1 + (Days | Subject)", "Reaction ~ Days + (Days | Subject)"]
    assert "refitted with ML" in repr(t) and "refitted with ML" in t._repr_html_()
    ml = [mixedpy.fit(f, d, reml=False) for f in ("Reaction ~ 1 + (Days | Subject)", "Reaction ~ Days + (Days | Subject)")]
    assert mixedpy.compare(*ml).note == ""
    assert list(mixedpy.compare(m0, m1, names=["small", "big"]).index) == ["small", "big"]


def test_bayesian_summary_has_posterior_columns():
    mb = mixedpy.fit_bayes("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"),
                           n_iter=1200, burn=200, seed=3, progress=False)
    s = mb.summary()
    text = str(s)
    assert "t value" not in text and "R-hat" in text and "ESS" in text
    assert list(s.fixed_table().columns) == ["Mean", "SD", "2.5%", "97.5%", "ESS", "R-hat"]
    from mixedpy.variance.mcmc import posterior_summary

    post = posterior_summary(mb.posterior)
    assert (post["rhat"] < 1.1).all() and (post["ess"] > 50).all()
    assert "R-hat" in s._repr_html_()
