"""mixedpy.plot: every function returns its Axes/Figure, draws into ``ax=``, and draws the right numbers."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import mixedpy
from mixedpy import plot
from mixedpy.errors import MixedpyError, ModelSpecError


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sleep():
    return mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def quadratic():
    """Longitudinal data with a subject-level covariate and a quadratic time trend."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(12):
        b = rng.normal(0, [2.0, 0.5, 0.05])
        for t in range(6):
            rows.append((f"s{i}", "a" if i % 2 else "b", t,
                         10 + b[0] + (1 + b[1]) * t + (0.1 + b[2]) * t * t + rng.normal(0, 0.3)))
    d = pd.DataFrame(rows, columns=["id", "grp", "t", "y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit("y ~ grp + t + t^2 + (1 + t + t^2 | id)", d)


# --- caterpillar --------------------------------------------------------------------------------------------
def test_caterpillar_one_term_returns_axes_with_ordered_levels(sleep):
    ax = plot.caterpillar(sleep, term="Days")
    assert isinstance(ax, Axes)
    b, se = sleep.ranef["Subject"]["Days"], sleep.ranef_se["Subject"]["Days"]
    order = np.argsort(b.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(v) for v in b.index[order]]
    x, y = ax.lines[-1].get_data()  # the points of the errorbar
    np.testing.assert_allclose(x, b.to_numpy()[order])
    assert np.all(np.diff(x) >= 0) and list(y) == list(range(len(b)))
    segs = ax.collections[-1].get_segments()  # interval = BLUP -/+ 1.96 conditional SD
    lo = np.array([s[0][0] for s in segs])
    hi = np.array([s[1][0] for s in segs])
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(lo, (b - z * se).to_numpy()[order])
    np.testing.assert_allclose(hi, (b + z * se).to_numpy()[order])


def test_caterpillar_all_terms_returns_figure_with_shared_order(sleep):
    fig = plot.caterpillar(sleep)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    b = sleep.ranef["Subject"]
    order = np.argsort(b["(Intercept)"].to_numpy())
    for ax, term in zip(fig.axes, ["(Intercept)", "Days"]):
        np.testing.assert_allclose(ax.lines[-1].get_xdata(), b[term].to_numpy()[order])
        assert term in ax.get_xlabel()


def test_caterpillar_order_by_level_and_labels(sleep):
    ax = plot.caterpillar(sleep, term="(Intercept)", order_by="Days", level=0.5, labels=False)
    b, se = sleep.ranef["Subject"], sleep.ranef_se["Subject"]
    order = np.argsort(b["Days"].to_numpy())
    np.testing.assert_allclose(ax.lines[-1].get_xdata(), b["(Intercept)"].to_numpy()[order])
    half = np.array([s[1][0] - s[0][0] for s in ax.collections[-1].get_segments()]) / 2
    np.testing.assert_allclose(half, stats.norm.ppf(0.75) * se["(Intercept)"].to_numpy()[order])
    assert len(ax.get_yticks()) == 0
    assert ax.get_title() == "50% prediction intervals"


def test_caterpillar_draws_into_given_axes(sleep):
    fig, axs = plt.subplots(1, 3)
    assert plot.caterpillar(sleep, term="Days", ax=axs[1]) is axs[1]
    assert axs[1].has_data() and not axs[0].has_data()
    out = plot.caterpillar(sleep, ax=[axs[0], axs[2]])
    assert out is fig and axs[0].has_data() and axs[2].has_data()


def test_caterpillar_errors(sleep):
    with pytest.raises(ModelSpecError, match="no grouping factor"):
        plot.caterpillar(sleep, group="Days")
    with pytest.raises(ModelSpecError, match="no random term"):
        plot.caterpillar(sleep, term="Nights")
    with pytest.raises(ModelSpecError, match="level"):
        plot.caterpillar(sleep, level=95)
    with pytest.raises(ModelSpecError, match="2 terms to draw but 1 Axes"):
        plot.caterpillar(sleep, ax=plt.gca())
    lm = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"))
    with pytest.raises(ModelSpecError, match="no random effects"):
        plot.caterpillar(lm)


def test_caterpillar_of_a_second_grouping_factor():
    m = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin"))
    ax = plot.caterpillar(m, group="sample")
    assert [t.get_text() for t in ax.get_yticklabels()] == \
        list(m.ranef["sample"]["(Intercept)"].sort_values().index.astype(str))
    assert ax.get_ylabel() == "sample"


# --- residuals ----------------------------------------------------------------------------------------------
def test_resid_fitted(sleep):
    ax = plot.resid_fitted(sleep)
    assert isinstance(ax, Axes)
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], sleep.fitted().to_numpy())
    np.testing.assert_allclose(pts[:, 1], sleep.residuals().to_numpy())
    _, axs = plt.subplots(1, 2)
    assert plot.resid_fitted(sleep, ax=axs[1], scaled=True, smooth=False) is axs[1]
    np.testing.assert_allclose(axs[1].collections[0].get_offsets()[:, 1],
                               sleep.residuals(scaled=True).to_numpy())
    assert axs[1].get_ylabel() == "scaled residual" and not axs[0].has_data()


def test_qq_of_residuals(sleep):
    ax = plot.qq(sleep)
    pts = ax.collections[0].get_offsets()
    r = np.sort(sleep.residuals(scaled=True).to_numpy())
    np.testing.assert_allclose(pts[:, 1], r)
    n = len(r)
    np.testing.assert_allclose(pts[:, 0], stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n))  # R's ppoints
    assert "residuals" in ax.get_title()


def test_qq_of_blups_into_axes(sleep):
    _, ax = plt.subplots()
    assert plot.qq(sleep, "ranef", term="Days", ax=ax) is ax
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 1], np.sort(sleep.ranef["Subject"]["Days"].to_numpy()))
    with pytest.raises(ModelSpecError, match="which"):
        plot.qq(sleep, "fitted")


# --- trajectories -------------------------------------------------------------------------------------------
def test_trajectories_curves_are_the_predictions(sleep):
    ax = plot.trajectories(sleep, levels=["308", "309"], population=False, points=False)
    assert isinstance(ax, Axes)
    assert ax.get_xlabel() == "Days" and ax.get_ylabel() == "Reaction"
    curves = [line for line in ax.lines if line.get_label() in ("308", "309")]
    assert len(curves) == 2
    d = mixedpy.datasets.load("sleepstudy")
    for line in curves:
        x, y = line.get_data()
        new = pd.DataFrame({"Days": x, "Subject": line.get_label()})
        np.testing.assert_allclose(y, sleep.predict(new).to_numpy())
        sub = d[d["Subject"].astype(str) == line.get_label()]
        assert x.min() == sub["Days"].min() and x.max() == sub["Days"].max()


def test_trajectories_observations_population_and_grid(sleep):
    _, ax = plt.subplots()
    out = plot.trajectories(sleep, levels=["308"], ax=ax, grid=np.linspace(-2, 12, 15))
    assert out is ax
    d = mixedpy.datasets.load("sleepstudy")
    obs = d[d["Subject"].astype(str) == "308"].sort_values("Days")
    points = [line for line in ax.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(points[0].get_ydata(), obs["Reaction"].to_numpy())
    pop = next(line for line in ax.lines if line.get_label().startswith("population"))
    x, y = pop.get_data()
    np.testing.assert_allclose(x, np.linspace(-2, 12, 15))
    np.testing.assert_allclose(y, sleep.fixef["(Intercept)"] + sleep.fixef["Days"] * x)


def test_trajectories_find_time_in_a_quadratic_random_term(quadratic):
    ax = plot.trajectories(quadratic)
    assert ax.get_xlabel() == "t"
    curves = [line for line in ax.lines if line.get_linestyle() == "-" and line.get_linewidth() == 1.8]
    assert len(curves) == 12
    x, y = curves[0].get_data()
    assert len(x) == 50
    b = quadratic.ranef["id"].loc["s0"]
    fe = quadratic.fixef
    grp = "grp[T.b]" in fe.index and fe["grp[T.b]"]  # s0 is in group "b"
    expected = (fe["(Intercept)"] + grp + b["(Intercept)"] + (fe["t"] + b["t"]) * x
                + (fe["I(t ** 2)"] + b["I(t ** 2)"]) * x ** 2)
    np.testing.assert_allclose(y, expected, rtol=1e-10)


def test_trajectories_errors(sleep):
    with pytest.raises(ModelSpecError, match="no level"):
        plot.trajectories(sleep, levels=["999"])
    with pytest.raises(ModelSpecError, match="time column"):
        plot.trajectories(sleep, time="Hours")
    m = mixedpy.fit("strength ~ 1 + (1 | batch/cask)", mixedpy.datasets.load("pastes"))
    with pytest.raises(ModelSpecError, match="one column"):
        plot.trajectories(m, group="cask:batch", time="strength")


# --- the optional dependency --------------------------------------------------------------------------------
def test_importing_mixedpy_does_not_import_matplotlib():
    code = "import sys, mixedpy, mixedpy.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_gives_a_clear_error(sleep, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'mixedpy\[plot\]'") as info:
        plot.resid_fitted(sleep)
    assert isinstance(info.value, MixedpyError) and isinstance(info.value, plot.MissingDependencyError)
