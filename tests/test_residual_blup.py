"""β̂, BLUPs and predictions of models with random terms and a residual structure against the dense
GLS/BLUP oracle: V = σ²(ZΛΛᵀZᵀ + R(φ̂)), β̂ = (XᵀV⁻¹X)⁻¹XᵀV⁻¹y, b̂ = G Zᵀ V⁻¹ (y − Xβ̂)."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy

DATA = Path(__file__).parent / "reference" / "data" / "nlme_o.csv"


@pytest.mark.parametrize("formula,residual", [
    ("distance ~ age + Sex + (1 | Subject)", "ar1(occ | Subject)"),
    ("distance ~ age * Sex + (age | Subject)", "het(Sex)"),
    ("distance ~ age + Sex + (1 | Subject)", "sp_exp(age | Subject)"),
])
def test_blups_and_predictions_equal_dense_oracle(formula, residual):
    o = pd.read_csv(DATA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit(formula, o, residual=residual)
    ws = m.workspace
    theta, phi = ws.split(m.theta)
    T = ws.residual.whitening(phi).T.toarray()  # oracle only: dense n × n
    R = np.linalg.inv(T.T @ T)
    Z, L = m.random.Z.toarray(), m.random.Lambda(theta).toarray()
    s2 = float(m.sigma) ** 2
    Vi = np.linalg.inv(s2 * (Z @ L @ L.T @ Z.T + R))
    X, y = ws.X, ws.y
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    b = s2 * L @ L.T @ Z.T @ Vi @ (y - X @ beta)
    assert np.allclose(m.solution.beta, beta, rtol=1e-10, atol=1e-10)
    assert np.allclose(m.solution.b, b, rtol=1e-9, atol=1e-10 * np.abs(b).max())
    assert np.allclose(m.predict(o), X @ beta + Z @ b, rtol=1e-10)
