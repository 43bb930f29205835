"""Binary traits in mixed models: heritability on the liability scale of binomial GLMMs."""
import warnings

import numpy as np
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError
from mixedpy.inference.heritability import LATENT_VARIANCE, heritability


def _fit(formula, data, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, family=family)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_latent_scale_icc_and_its_delta_method_se(link):
    m = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixedpy.datasets.load("cbpp"),
             mixedpy.families.Binomial(link=link))
    s2 = float(m.theta[0]) ** 2
    h = heritability(m, "herd")
    assert h["estimate"] == pytest.approx(s2 / (s2 + LATENT_VARIANCE[link]), rel=1e-12)
    # SE: the delta method on Var(θ̂) = 2 H⁻¹ (θ block), written out for one term
    var_theta = 2 * np.linalg.inv(m.hessian)[0, 0]
    d = 2 * float(m.theta[0]) * LATENT_VARIANCE[link] / (s2 + LATENT_VARIANCE[link]) ** 2
    assert h["se"] == pytest.approx(abs(d) * np.sqrt(var_theta), rel=1e-10)


def test_heritability_of_a_poisson_glmm_is_refused():
    d = mixedpy.datasets.load("grouseticks")
    m = _fit("TICKS ~ YEAR + (1 | BROOD)", d, "poisson")
    with pytest.raises(ModelSpecError, match="liability"):
        heritability(m, "BROOD")


def test_relmat_with_identity_K_is_the_ordinary_glmm():
    import pandas as pd
    d = mixedpy.datasets.load("cbpp")
    levels = d["herd"].cat.categories
    K = pd.DataFrame(np.eye(len(levels)), index=levels, columns=levels)
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mixedpy.fit(f, d, family="binomial")
        m = mixedpy.fit(f, d, family="binomial", relmat={"herd": K})
    assert type(m.workspace).__name__ == "LatentPirlsWorkspace"
    assert m.neg2loglik == pytest.approx(m0.neg2loglik, abs=1e-6)
    np.testing.assert_allclose(m.fixef, m0.fixef, rtol=1e-5)
    np.testing.assert_allclose(m.coef_table["se"], m0.coef_table["se"], rtol=1e-3)
    np.testing.assert_allclose(m.ranef["herd"], m0.ranef["herd"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.ranef_se["herd"], m0.ranef_se["herd"], rtol=1e-4)


@pytest.fixture(scope="module")
def threshold():
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("cattle_pedigree"))
    d = mixedpy.datasets.load("cattle_records")
    d["high"] = (d["weight"] > d["weight"].median()).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("high ~ sex + (1 | animal)", d, family=mixedpy.families.Binomial(link="probit"),
                        relmat={"animal": ped})
    return m, ped, d


def test_threshold_animal_model_laplace_equals_dense_definition(threshold):
    """−2 log L (Laplace) of the probit animal model written densely: b ~ N(0, σ²_a A) over all
    pedigree animals, b̂ by Newton on log p(y | b) − ½ bᵀ(σ²_a A)⁻¹b, then
    −2 log p(y | b̂) + b̂ᵀ(σ²_a A)⁻¹b̂ + log|σ²_a A| + log|ZᵀWZ + (σ²_a A)⁻¹| (W: Fisher weights)."""
    from scipy import stats
    m, ped, _ = threshold
    A = ped.A.loc[m.random.terms[0].levels, m.random.terms[0].levels].to_numpy()
    Z = m.random.Z.toarray()
    X, y = m.fixed.X, m.fixed.y
    beta, s2 = m.fixef.to_numpy(), float(m.theta[0]) ** 2
    G = s2 * A
    Gi = np.linalg.inv(G)
    b = np.zeros(len(A))
    for _ in range(50):
        eta = X @ beta + Z @ b
        mu, dens = stats.norm.cdf(eta), stats.norm.pdf(eta)
        W = dens ** 2 / (mu * (1 - mu))
        grad = Z.T @ ((y - mu) * dens / (mu * (1 - mu))) - Gi @ b
        step = np.linalg.solve(Z.T @ (W[:, None] * Z) + Gi, grad)
        b = b + step
        if np.max(np.abs(step)) < 1e-12:
            break
    eta = X @ beta + Z @ b
    mu, dens = stats.norm.cdf(eta), stats.norm.pdf(eta)
    W = dens ** 2 / (mu * (1 - mu))
    ll = np.sum(y * np.log(mu) + (1 - y) * np.log1p(-mu))
    dev = (-2 * ll + b @ Gi @ b + np.linalg.slogdet(G)[1]
           + np.linalg.slogdet(Z.T @ (W[:, None] * Z) + Gi)[1])
    assert m.neg2loglik == pytest.approx(dev, abs=1e-6)
    np.testing.assert_allclose(m.ranef["animal"].to_numpy().ravel(), b, rtol=1e-5, atol=1e-8)
    # PEV of the breeding values: the diagonal of (ZᵀWZ + G⁻¹)⁻¹
    pev = np.diag(np.linalg.inv(Z.T @ (W[:, None] * Z) + Gi))
    np.testing.assert_allclose(m.ranef_se["animal"].to_numpy().ravel(), np.sqrt(pev), rtol=1e-5)


def test_threshold_model_reports_ancestors_and_liability_heritability(threshold):
    m, ped, _ = threshold
    assert len(m.ranef["animal"]) == len(ped.to_frame())  # founders without records get EBVs too
    h = heritability(m, "animal")
    s2 = float(m.theta[0]) ** 2
    assert h["estimate"] == pytest.approx(s2 / (s2 + 1.0), rel=1e-12)
    assert 0 < h["se"] < h["estimate"]


def test_relmat_glmm_refuses_quadrature():
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("cattle_pedigree"))
    d = mixedpy.datasets.load("cattle_records")
    d["high"] = (d["weight"] > d["weight"].median()).astype(int)
    with pytest.raises(ModelSpecError, match="nAGQ"):
        mixedpy.fit("high ~ sex + (1 | animal)", d, family="binomial", relmat={"animal": ped}, nAGQ=5)
