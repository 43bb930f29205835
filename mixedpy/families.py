"""Response distributions and link functions of generalized linear mixed models, as R's family objects.

A :class:`Family` bundles the variance function V(μ), the deviance residuals, the log-likelihood of
the observations and a :class:`Link` g (η = g(μ), μ = g⁻¹(η), dμ/dη).  Numerics are those of R's
``binomial()`` and ``poisson()`` (the same clamps of μ and dμ/dη), written with
:mod:`scipy.special` for stability in the tails.

Glossary
--------
eta      linear predictor η = offset + Xβ + Zb
mu       conditional mean μ = g⁻¹(η)
mu_eta   dμ/dη
wt       prior weights (binomial: the number of trials, the response being the proportion)

Examples
--------
>>> import numpy as np, mixedpy
>>> fam = mixedpy.families.Binomial(link="probit")
>>> fam, fam.link.name
(Binomial(link='probit'), 'probit')
>>> fam.link.linkinv(np.array([0.0])).tolist()
[0.5]
"""
from __future__ import annotations

import numpy as np
from scipy import special

from .errors import ModelSpecError

EPS = float(np.finfo(float).eps)
_THRESH = 30.0  # R's logit mu_eta is ε beyond |η| > 30
_LOGIT_CLAMP = -float(np.log(EPS))  # R's logit linkinv clamps η to ±36.04

__all__ = ["Binomial", "Family", "Link", "Poisson", "family_from"]


class Link:
    """A link function g and its inverse.

    Parameters
    ----------
    name : {"logit", "probit", "cauchit", "cloglog", "log", "identity", "sqrt"}

    Examples
    --------
    >>> import numpy as np
    >>> lk = Link("logit")
    >>> float(lk.linkfun(np.array([0.5]))[0]), float(lk.mu_eta(np.array([0.0]))[0])
    (0.0, 0.25)
    """

    NAMES = ("logit", "probit", "cauchit", "cloglog", "log", "identity", "sqrt")

    def __init__(self, name: str):
        if name not in self.NAMES:
            raise ModelSpecError(f"link {name!r} is not available; use one of {', '.join(self.NAMES)}")
        self.name = name

    def __repr__(self) -> str:
        return f"Link({self.name!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Link) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        """η = g(μ).

        Examples
        --------
        >>> import numpy as np
        >>> Link("log").linkfun(np.array([1.0])).tolist()
        [0.0]
        """
        mu = np.asarray(mu, dtype=float)
        n = self.name
        if n == "logit":
            return special.logit(mu)
        if n == "probit":
            return special.ndtri(mu)
        if n == "cauchit":
            return np.tan(np.pi * (mu - 0.5))
        if n == "cloglog":
            return np.log(-np.log1p(-mu))
        if n == "log":
            return np.log(mu)
        if n == "sqrt":
            return np.sqrt(mu)
        return mu.copy()

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        """μ = g⁻¹(η) (R's clamps: μ kept inside (0, 1) by ε for the binomial links, > ε for log).

        Examples
        --------
        >>> import numpy as np
        >>> Link("cloglog").linkinv(np.array([0.0])).round(6).tolist()
        [0.632121]
        """
        eta = np.asarray(eta, dtype=float)
        n = self.name
        if n == "logit":
            return special.expit(np.clip(eta, -_LOGIT_CLAMP, _LOGIT_CLAMP))
        if n == "probit":
            thr = -special.ndtri(EPS)
            return special.ndtr(np.clip(eta, -thr, thr))
        if n == "cauchit":
            thr = -np.tan(np.pi * (EPS - 0.5))
            return 0.5 + np.arctan(np.clip(eta, -thr, thr)) / np.pi
        if n == "cloglog":
            return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)
        if n == "log":
            return np.maximum(np.exp(eta), EPS)
        if n == "sqrt":
            return eta ** 2
        return eta.copy()

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """dμ/dη (floored at ε as R, so that the working weights stay positive).

        Examples
        --------
        >>> import numpy as np
        >>> Link("probit").mu_eta(np.array([0.0])).round(6).tolist()
        [0.398942]
        """
        eta = np.asarray(eta, dtype=float)
        n = self.name
        if n == "logit":
            p = special.expit(eta)
            return np.where(np.abs(eta) > _THRESH, EPS, np.maximum(p * (1 - p), EPS))
        if n == "probit":
            return np.maximum(np.exp(-0.5 * eta ** 2) / np.sqrt(2 * np.pi), EPS)
        if n == "cauchit":
            return np.maximum(1.0 / (np.pi * (1 + eta ** 2)), EPS)
        if n == "cloglog":
            e = np.minimum(eta, 700.0)
            return np.maximum(np.exp(e - np.exp(e)), EPS)
        if n == "log":
            return np.maximum(np.exp(eta), EPS)
        if n == "sqrt":
            return 2 * eta
        return np.ones_like(eta)


class Family:
    """A response distribution with its link (base class of :class:`Binomial` and :class:`Poisson`).

    Attributes
    ----------
    name : str
        R's family name ("binomial", "poisson").
    link : Link
    links : tuple of str
        The links this family accepts (R's).
    canonical : str
        The canonical link (the default).

    Examples
    --------
    >>> Poisson().link.name, Poisson().is_canonical
    ('log', True)
    """

    name = "family"
    links: tuple = ()
    canonical = "identity"

    def __init__(self, link: str | Link | None = None):
        name = self.canonical if link is None else (link.name if isinstance(link, Link) else link)
        if not isinstance(name, str) or name not in self.links:
            raise ModelSpecError(f"link {name!r} is not available for the {self.name} family; use one of "
                                 f"{', '.join(self.links)}")
        self.link = Link(name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link.name!r})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.link == self.link

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.link.name))

    @property
    def is_canonical(self) -> bool:
        """Whether the link is canonical (then Fisher scoring is Newton's method).

        Examples
        --------
        >>> Binomial(link="probit").is_canonical
        False
        """
        return self.link.name == self.canonical

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """V(μ)."""
        raise NotImplementedError

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Squared deviance residuals (their sum is the GLM deviance)."""
        raise NotImplementedError

    def loglik_terms(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """log p(y_i | μ_i) per observation."""
        raise NotImplementedError

    def loglik(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> float:
        """Σ log p(y | μ) (R's ``family$aic`` is −2 times this).

        Examples
        --------
        >>> import numpy as np
        >>> round(Poisson().loglik(np.array([0.0]), np.array([2.0]), np.array([1.0])), 6)
        -2.0
        """
        return float(np.sum(self.loglik_terms(y, mu, wt)))

    def valid_mu(self, mu: np.ndarray) -> bool:
        """Whether μ is inside the family's range (identity or sqrt links can leave it)."""
        return bool(np.all(np.isfinite(mu)))

    def weights(self, mu: np.ndarray, mu_eta: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """The working weights w (dμ/dη)² / V(μ) (expected information).

        Examples
        --------
        >>> import numpy as np
        >>> Binomial().weights(np.array([0.5]), np.array([0.25]), np.array([1.0])).tolist()
        [0.25]
        """
        return wt * mu_eta ** 2 / self.variance(mu)

    def aic(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> float:
        """−2 Σ log p(y | μ), R's ``family$aic`` without the 2 × parameters.

        Examples
        --------
        >>> import numpy as np
        >>> round(Poisson().aic(np.array([1.0]), np.array([1.0]), np.array([1.0])), 6)
        2.0
        """
        return -2.0 * self.loglik(y, mu, wt)


class Binomial(Family):
    """The binomial family: the response is a proportion of ``wt`` trials (0/1 with ``wt`` = 1).

    Parameters
    ----------
    link : {"logit", "probit", "cauchit", "log", "cloglog"}, default "logit"

    Examples
    --------
    >>> import numpy as np
    >>> b = Binomial()
    >>> round(b.aic(np.array([0.5]), np.array([0.5]), np.array([2.0])), 6)  # -2 log dbinom(1, 2, 0.5)
    1.386294
    """

    name = "binomial"
    links = ("logit", "probit", "cauchit", "log", "cloglog")
    canonical = "logit"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """V(μ) = μ (1 − μ).

        Examples
        --------
        >>> import numpy as np
        >>> Binomial().variance(np.array([0.5])).tolist()
        [0.25]
        """
        return mu * (1 - mu)

    def valid_mu(self, mu: np.ndarray) -> bool:
        """μ in (0, 1).

        Examples
        --------
        >>> import numpy as np
        >>> Binomial().valid_mu(np.array([0.5, 1.2]))
        False
        """
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0) and np.all(mu < 1))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """2 wt (y log(y/μ) + (1 − y) log((1 − y)/(1 − μ))).

        Examples
        --------
        >>> import numpy as np
        >>> Binomial().dev_resids(np.array([1.0]), np.array([0.5]), np.array([1.0])).round(6).tolist()
        [1.386294]
        """
        return 2 * wt * (special.xlogy(y, y) - special.xlogy(y, mu)
                         + special.xlogy(1 - y, 1 - y) - special.xlogy(1 - y, 1 - mu))

    def loglik_terms(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """log dbinom(wt·y, wt, μ) (rounded counts, as R's ``binomial()$aic``).

        Examples
        --------
        >>> import numpy as np
        >>> Binomial().loglik_terms(np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.ones(2)).round(6).tolist()
        [-0.693147, -0.693147]
        """
        m = np.round(wt)
        k = np.round(wt * y)
        lchoose = special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)
        return lchoose + special.xlogy(k, mu) + special.xlog1py(m - k, -mu)


class Poisson(Family):
    """The Poisson family (counts; prior weights multiply each observation's log-likelihood).

    Parameters
    ----------
    link : {"log", "identity", "sqrt"}, default "log"

    Examples
    --------
    >>> import numpy as np
    >>> Poisson().dev_resids(np.array([0.0, 2.0]), np.array([1.0, 2.0]), np.ones(2)).tolist()
    [2.0, 0.0]
    """

    name = "poisson"
    links = ("log", "identity", "sqrt")
    canonical = "log"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """V(μ) = μ.

        Examples
        --------
        >>> import numpy as np
        >>> Poisson().variance(np.array([3.0])).tolist()
        [3.0]
        """
        return mu

    def valid_mu(self, mu: np.ndarray) -> bool:
        """μ > 0.

        Examples
        --------
        >>> import numpy as np
        >>> Poisson().valid_mu(np.array([1.0, -0.1]))
        False
        """
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """2 wt (y log(y/μ) − (y − μ)).

        Examples
        --------
        >>> import numpy as np
        >>> Poisson().dev_resids(np.array([1.0]), np.array([1.0]), np.array([1.0])).tolist()
        [0.0]
        """
        return 2 * wt * (special.xlogy(y, y) - special.xlogy(y, mu) - (y - mu))

    def loglik_terms(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """wt log dpois(y, μ) (with lgamma(y + 1) for non-integer y).

        Examples
        --------
        >>> import numpy as np
        >>> Poisson().loglik_terms(np.array([0.0]), np.array([2.0]), np.array([1.0])).tolist()
        [-2.0]
        """
        return wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1))


FAMILIES = {"binomial": Binomial, "poisson": Poisson}


def family_from(family: str | Family | None) -> Family | None:
    """A :class:`Family` from ``fit``'s ``family=`` argument: a family object, a name ("binomial",
    "poisson", "gaussian" → None: a linear mixed model), or None.

    Examples
    --------
    >>> family_from("poisson"), family_from(None), family_from("gaussian")
    (Poisson(link='log'), None, None)
    >>> family_from("negbin")
    Traceback (most recent call last):
    ...
    mixedpy.errors.ModelSpecError: family 'negbin' is not available; use 'binomial', 'poisson', 'gaussian' or a mixedpy.families object
    """
    if family is None or isinstance(family, Family):
        return family
    if isinstance(family, type) and issubclass(family, Family) and family is not Family:
        return family()
    if isinstance(family, str):
        key = family.strip().lower()
        if key == "gaussian":
            return None
        if key in FAMILIES:
            return FAMILIES[key]()
    raise ModelSpecError(f"family {family!r} is not available; use 'binomial', 'poisson', 'gaussian' or a "
                         "mixedpy.families object")
