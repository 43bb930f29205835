"""Shared fixtures: the reference cases (lme4/lmerTest results shipped in tests/reference).

``cases_public.json`` / ``cases_extra.json`` (expected values in ``expected/``) are the cases every
reference test runs.  ``cases_coding.json`` (expected values in ``expected_coding/``, made by
``Rscript make_ref.R cases_coding.json expected_coding data``) holds models fitted with other
contrast codings (R's ``options(contrasts = ...)`` / ordered factors, mixedpy's ``C(f, ...)``):
their coefficients are named differently in R and mixedpy, so only tests that match them by
position use them (``coding_names``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

REF = Path(__file__).parent / "reference"


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


def load_case(name: str):
    """(case, expected json, data frame with the case's factors) for a reference or coding case."""
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


@pytest.fixture(scope="session")
def fitted_cases():
    """Cache of fits by case name (fitting each reference model once per session)."""
    import warnings

    import mixedpy

    cache = {}

    def get(name):
        if name not in cache:
            case, ref, df = load_case(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[name] = (mixedpy.fit(case["formula"], df, reml=bool(case["reml"])), case, ref, df)
        return cache[name]

    return get
