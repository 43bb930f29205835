"""glmer's ``summary()`` of a generalized linear mixed model, as text.

Examples
--------
>>> import mixedpy
>>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
...                 mixedpy.datasets.load("cbpp"), family="binomial")
>>> "Fixed effects:" in str(glmm_summary(m))
True
"""
from __future__ import annotations

import numpy as np

from .rformat import format_pval, r_format


class GlmmSummary:
    """The summary text (``str()``) with the pieces it shows as attributes.

    Examples
    --------
    >>> GlmmSummary("text", {}).text
    'text'
    """

    def __init__(self, text: str, pieces: dict):
        self.text, self.pieces = text, pieces

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else " "


def _method(m) -> str:
    if m.nagq > 1:
        return f"Adaptive Gauss-Hermite Quadrature, nAGQ = {m.nagq}"
    return "Laplace Approximation"


def glmm_summary(m) -> GlmmSummary:
    """glmer's summary layout: method, family, formula, information criteria, scaled Pearson
    residuals, random effects, fixed effects with Wald z tests.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 mixedpy.datasets.load("cbpp"), family="binomial")
    >>> print(str(glmm_summary(m)).splitlines()[1])
     Family: binomial  ( logit )
    """
    fam = m.family
    lines = [f"Generalized linear mixed model fit by maximum likelihood ({_method(m)}) ['glmerMod']",
             f" Family: {fam.name}  ( {fam.link.name} )", f"Formula: {m.formula}", f"   Data: {m.data_name}", ""]
    vals = [m.aic, m.bic, m.loglik, m.neg2loglik]
    crit = r_format(np.array(vals), digits=4)
    heads = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    cells = crit + [str(m.df_resid)]
    w = max(len(c) for c in cells + heads) + 1
    lines += ["".join(h.rjust(w) for h in heads), "".join(c.rjust(w) for c in cells), ""]
    mu = m.fitted().to_numpy()
    wt = m.spec.prior_weights
    pearson = (m.fixed.y - mu) * np.sqrt(wt / fam.variance(mu))
    q = np.quantile(pearson, [0, 0.25, 0.5, 0.75, 1])
    qs = r_format(q, digits=4)
    lines += ["Scaled residuals: ", "".join(h.rjust(max(len(x) for x in qs) + 1) for h in
                                           ["Min", "1Q", "Median", "3Q", "Max"]),
              "".join(x.rjust(max(len(x) for x in qs) + 1) for x in qs), ""]
    vc = m.varcorr
    lines.append("Random effects:")
    rows = [(" Groups", "Name", "Variance", "Std.Dev.", "Corr")]
    for _, r in vc.iterrows():
        if isinstance(r.term2, str):
            continue
        rows.append((" " + r.group, r.term1, r_format([r.variance], 4)[0], r_format([r.sd_cor], 4)[0], ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append(" ".join(r[i].ljust(widths[i]) for i in range(4)).rstrip())
    groups = ", ".join(f"{g}, {n}" for g, n in m.ngroups.items())
    lines += [f"Number of obs: {m.nobs}, groups:  {groups}", "", "Fixed effects:"]
    ct = m.coef_table
    est = r_format(ct["estimate"].to_numpy(), 4)
    se = r_format(ct["se"].to_numpy(), 4)
    z = r_format(ct["z"].to_numpy(), 3)
    p = format_pval(ct["p"].to_numpy(), 3)
    names = list(ct.index)
    cols = [("", names), ("Estimate", est), ("Std. Error", se), ("z value", z), ("Pr(>|z|)", p)]
    widths = [max(len(h), *(len(x) for x in v)) for h, v in cols]
    lines.append(" ".join(h.rjust(wd) if i else h.ljust(wd) for i, ((h, _), wd) in enumerate(zip(cols, widths))))
    for i, name in enumerate(names):
        cells = [name.ljust(widths[0])] + [v[i].rjust(wd) for (_, v), wd in zip(cols[1:], widths[1:])]
        lines.append(" ".join(cells) + " " + _stars(ct["p"].iloc[i]))
    lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    if m.is_singular:
        lines += ["optimizer (bobyqa) convergence code: 0 (OK)", "boundary (singular) fit: see help('isSingular')"]
    return GlmmSummary("\n".join(lines), {"coef_table": ct, "varcorr": vc})
