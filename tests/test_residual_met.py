"""A multi-environment trial with a residual variance per environment and crossed random genotype
and genotype:environment effects against glmmTMB (``dispformula = ~ env``, REML = TRUE):
tests/reference/met_het_glmmtmb.R (simulated 8 environments × 3 reps × 80 genotypes)."""
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def met():
    ref = json.loads((REF / "expected_glmmtmb" / "met_het.json").read_text())
    data = pd.read_csv(REF / "data" / "met_het.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit(ref["formula"], data, residual=ref["residual"])
    return m, ref


def _r_name(name: str) -> str:
    return re.sub(r"\[(T\.)?([^]]*)\]", r"\2", name)


def test_criterion(met):
    m, ref = met
    # glmmTMB stops at its own tolerance: the optimum may only be lower
    assert m.reml_criterion == pytest.approx(ref["m2rl"], abs=1e-4)
    assert m.reml_criterion <= ref["m2rl"] + 1e-6


def test_fixed_effects(met):
    m, ref = met
    ct = m.coef_table
    ct.index = [_r_name(c) for c in ct.index]
    ct = ct.loc[ref["coef_names"]]
    assert np.allclose(ct["estimate"], ref["estimate"], rtol=1e-4, atol=1e-6 * np.max(np.abs(ref["estimate"])))
    assert np.allclose(ct["se"], ref["se"], rtol=1e-3)


def test_variances(met):
    m, ref = met
    vc = m.varcorr.set_index("group")
    assert vc.loc["geno", "variance"] == pytest.approx(ref["var_geno"], rel=1e-3)
    assert vc.loc["geno:env", "variance"] == pytest.approx(ref["var_geno_env"], rel=1e-3)
    rp = m.residual_parameters
    sd = np.sqrt(rp["estimate"].to_numpy())
    assert [g.split()[-1] for g in rp["group"]] == ref["env"]
    assert np.allclose(sd, ref["env_resid_sd"], rtol=1e-3)
