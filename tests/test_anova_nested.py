"""Nested fixed terms (``a + a:b`` without ``b``): lmerTest's containment and hypothesis matrices.

R codes ``a`` by indicators in ``a:b`` when ``b`` has no main effect (``attr(terms, "factors")``
is 2 there), and lmerTest's ``containment`` only sees the variables coded 1: ``a:b`` does not
contain ``a``, so ``a`` gets its marginal test in the type II and III tables.  The references are
R's own: ``reference/term_codes.json`` (``term_codes.R``) and ``reference/expected_hypotheses``
(``hypotheses_nested.R``, lmerTest 3.1-3); the F tests of these cases (types I, II, III and
Kenward-Roger) are checked against lmerTest in ``test_inference.py::test_anova``.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from conftest import REF, load_case
from mixedpy.inference.contrasts import contrast_coded, hypothesis_matrices

HYP_CASES = sorted(p.stem for p in (REF / "expected_hypotheses").glob("*.json"))


def _norm(name: str) -> str:
    s = str(name).replace("(Intercept)", "Intercept")
    s = re.sub(r"\[T\.([^\]]*)\]", r"\1", s)
    return re.sub(r"\[([^\]]*)\]", r"\1", s).replace(" ", "")


@pytest.mark.parametrize("entry", json.loads((REF / "term_codes.json").read_text()), ids=lambda e: e["formula"][0])
def test_contrast_coded_variables_as_r(entry):
    variables = [set(t.split(":")) for t in entry["terms"]]
    got = [sorted(c) for c in contrast_coded(variables)]
    assert got == [sorted(c) for c in entry["coded"]]


@pytest.fixture(scope="module")
def fits():
    import mixedpy

    cache = {}

    def get(name):
        if name not in cache:
            case, _, df = load_case(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[name] = mixedpy.fit(case["formula"], df, reml=bool(case["reml"]))
        return cache[name]
    return get


@pytest.mark.parametrize("type_", [1, 2, 3])
@pytest.mark.parametrize("name", HYP_CASES)
def test_hypothesis_matrices_as_lmertest(name, type_, fits):
    """Each term's hypothesis matrix spans the same rows as lmerTest's."""
    m = fits(name)
    ref = json.loads((REF / "expected_hypotheses" / f"{name}.json").read_text())
    ours = {_norm(n): j for j, n in enumerate(m.fixed.names)}
    order = [ours[_norm(n)] for n in ref["coef_names"]]
    mats = hypothesis_matrices(m, type_)
    assert sorted(mats) == sorted(ref[f"type{type_}"])
    for term, L_r in ref[f"type{type_}"].items():
        L_r = np.atleast_2d(np.array(L_r, dtype=float))
        L = np.atleast_2d(mats[term])[:, order]
        r = np.linalg.matrix_rank(L_r, tol=1e-8)
        assert np.linalg.matrix_rank(L, tol=1e-8) == r, term
        assert np.linalg.matrix_rank(np.vstack([L, L_r]), tol=1e-8) == r, term
        if type_ > 1:  # types II and III: lmerTest's matrices row by row
            assert L.shape == L_r.shape and np.allclose(L, L_r, atol=1e-6), term


def test_met_env_marginal(fits):
    """MET with reps fixed within environments: env's type II/III test is env's marginal test."""
    m = fits("met_env_rep")
    _, ref, _ = load_case("met_env_rep")
    names = list(m.fixed.names)
    env = [j for j, n in enumerate(names) if n.startswith("env[T.")]
    for type_ in (2, 3):
        assert np.allclose(hypothesis_matrices(m, type_)["env"], np.eye(len(names))[env])
    tab = m.anova(type=3)
    a = ref["anova3"]
    k = a["terms"].index("env")
    assert tab.loc["env", "F"] == pytest.approx(a["F"][k], rel=2e-3)
    assert tab.loc["env", "den_df"] == pytest.approx(a["DenDF"][k], rel=1e-2)
