"""Shared fixtures: the reference cases (lme4/lmerTest results shipped in tests/reference).

``cases_public.json`` / ``cases_extra.json`` (expected values in ``expected/``) are the cases every
reference test runs.  ``cases_coding.json`` (expected values in ``expected_coding/``, made by
``Rscript make_ref.R cases_coding.json expected_coding data``) holds models fitted with other
contrast codings (R's ``options(contrasts = ...)`` / ordered factors, mixedpy's ``C(f, ...)``):
their coefficients are named differently in R and mixedpy, so only tests that match them by
position use them (``coding_names``).
"""
from __future__ import annotations

import functools
import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

REF = Path(__file__).parent / "reference"

# hypothesis: the same examples on every run (derandomize), so a failure reproduces as it is;
# HYPOTHESIS_PROFILE=explore draws new random examples (a local bug hunt, not for CI).
settings.register_profile("mixedpy", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "mixedpy"))

# reference cases on 20 000 rows or more (the 50k-row simulation, the 73k-row InstEval fits) are
# marked ``slow``: they run by default, ``-m "not slow"`` leaves them out for a quick loop
SLOW_NOBS = 20_000


def reference_cases() -> dict:
    cases = {}
    for f in ("cases_public.json", "cases_extra.json"):
        p = REF / f
        if p.exists():
            cases.update({c["name"]: c for c in json.loads(p.read_text())})
    return cases


def expected_names() -> list[str]:
    cases = reference_cases()
    return sorted(p.stem for p in (REF / "expected").glob("*.json") if p.stem in cases)


def coding_cases() -> dict:
    """The cases of ``cases_coding.json`` (non-treatment contrast codings) by name."""
    p = REF / "cases_coding.json"
    return {c["name"]: c for c in json.loads(p.read_text())} if p.exists() else {}


def coding_names() -> list[str]:
    cases = coding_cases()
    return sorted(p.stem for p in (REF / "expected_coding").glob("*.json") if p.stem in cases)


@functools.lru_cache(maxsize=None)
def load_case(name: str):
    """(case, expected json, data frame with the case's factors) for a reference or coding case.
    Read once per session: callers must not modify what it returns."""
    cases = reference_cases()
    where = "expected"
    if name not in cases:
        cases, where = coding_cases(), "expected_coding"
    case = cases[name]
    ref = json.loads((REF / where / f"{name}.json").read_text())
    # as R's read.csv: only "NA" and empty cells are missing (Alfalfa has a level "None")
    df = pd.read_csv(REF / "data" / f"{case['data']}.csv", keep_default_na=False, na_values=["NA", ""])
    for f in case.get("factors", []):
        df[f] = pd.Categorical(df[f])
    return case, ref, df


@functools.lru_cache(maxsize=None)
def rescaled_reference(name: str):
    """lme4's reference for a badly scaled case, fitted on the rescaled covariate and mapped back to
    the original scale (expected_rescaled/, made by make_ref_rescaled.R), or None."""
    p = REF / "expected_rescaled" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


@functools.lru_cache(maxsize=None)
def slow_cases() -> frozenset:
    """Reference cases on SLOW_NOBS rows or more."""
    out = set()
    for where in ("expected", "expected_coding"):
        for p in (REF / where).glob("*.json"):
            if json.loads(p.read_text()).get("nobs", 0) >= SLOW_NOBS:
                out.add(p.stem)
    return frozenset(out)


_FITS: dict = {}


def fit_case(name: str, reml: bool | None = None):
    """mixedpy's fit of a reference case (REML as the case says, or as ``reml``), fitted once per
    test session and shared by every test file (the tests must not modify it)."""
    import mixedpy

    case, _, df = load_case(name)
    reml = bool(case["reml"]) if reml is None else bool(reml)
    key = (name, reml)
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = mixedpy.fit(case["formula"], df, reml=reml)
    return _FITS[key]


def pytest_collection_modifyitems(config, items):
    slow = slow_cases()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("name") in slow:
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session, exitstatus):
    """MIXEDPY_MEASURE_TOLERANCES=<file>: write the largest deviation from R of each kind of
    inference quantity (test_inference.DEVIATIONS), the measurements behind test_inference.TOL."""
    import sys

    out = os.environ.get("MIXEDPY_MEASURE_TOLERANCES")
    mod = sys.modules.get("test_inference")
    if out and mod is not None:
        rows = {k: {"max_rtol_needed": v[0], "at": repr(v[1]), "rtol": mod.TOL[k][0], "atol": mod.TOL[k][1]}
                for k, v in sorted(mod.DEVIATIONS.items())}
        Path(out).write_text(json.dumps(rows, indent=1))


@pytest.fixture(scope="session")
def fitted_cases():
    """(fit, case, reference, data) of a reference case by name: the session's shared fit (fit_case)."""

    def get(name):
        case, ref, df = load_case(name)
        return fit_case(name), case, ref, df

    return get
