"""A summary that prints like lmerTest's ``summary()`` and renders as HTML in notebooks."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def _abbrev(name: str) -> str:
    """R's abbreviation of a coefficient name for the correlation table (at most 6 characters)."""
    s = name.replace("(", "").replace(")", "")
    return s[:6]


class Summary:
    """Printable summary of a fit (``str()`` for the terminal, ``_repr_html_`` for notebooks)."""

    def __init__(self, result):
        self.result = result

    def header(self) -> list[str]:
        m = self.result
        if not m.random.terms:
            return ["Linear model fit by least squares", f"Formula: {m.formula}", ""]
        how = "REML" if m.reml else "maximum likelihood"
        ddf = "Satterthwaite's method" if np.isfinite(m.coef_table["df"]).all() else "no df"
        lines = [f"Linear mixed model fit by {how}. t-tests use {ddf} [mixedpy]",
                 f"Formula: {m.formula}", f"   Data: {m.data_name}", ""]
        if m.reml:
            lines.append(f"REML criterion at convergence: {m.reml_criterion:.1f}")
        else:
            tab = pd.DataFrame([[m.aic, m.bic, m.loglik, m.deviance, m.df_resid]],
                               columns=["AIC", "BIC", "logLik", "deviance", "df.resid"])
            lines += tab.to_string(index=False, float_format=lambda v: f"{v:.1f}").splitlines()
        return lines + [""]

    def residual_lines(self) -> list[str]:
        r = self.result.residuals(scaled=True).to_numpy()
        q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1])
        tab = pd.DataFrame([q], columns=["Min", "1Q", "Median", "3Q", "Max"])
        return ["Scaled residuals:"] + tab.to_string(index=False, float_format=lambda v: f"{v:.4f}").splitlines() + [""]

    def random_table(self) -> pd.DataFrame:
        m = self.result
        rows = []
        for label, term in zip(m._term_labels(), m.random.terms):
            S = m.term_covariance(term)
            sd = np.sqrt(np.diag(S))
            for a, name in enumerate(term.columns):
                cors = [f"{S[a, b] / (sd[a] * sd[b]):.2f}" if sd[a] * sd[b] > 0 else "NaN" for b in range(a)]
                rows.append([label if a == 0 else "", name, f"{S[a, a]:.4g}", f"{sd[a]:.4g}", " ".join(cors)])
        rows.append(["Residual", "", f"{m.sigma ** 2:.4g}", f"{m.sigma:.4g}", ""])
        return pd.DataFrame(rows, columns=["Groups", "Name", "Variance", "Std.Dev.", "Corr"])

    def fixed_table(self) -> pd.DataFrame:
        ct = self.result.coef_table
        tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "df": ct["df"],
                            "t value": ct["t"]}, index=ct.index)
        tab = tab.map(lambda v: f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}")
        tab["Pr(>|t|)"] = [_fmt_p(p) for p in ct["p"]]
        tab[""] = [_stars(p) for p in ct["p"]]
        return tab

    def correlation_table(self) -> pd.DataFrame | None:
        V = self.result.vcov.to_numpy()
        if V.shape[0] < 2:
            return None
        sd = np.sqrt(np.diag(V))
        C = V / np.outer(sd, sd)
        names = list(self.result.vcov.index)
        tab = pd.DataFrame([[f"{C[i, j]:.3f}" if j < i else "" for j in range(len(names) - 1)]
                            for i in range(1, len(names))],
                           index=names[1:], columns=[_abbrev(n) for n in names[:-1]])
        return tab

    def __str__(self) -> str:
        m = self.result
        lines = self.header() + self.residual_lines()
        if m.random.terms:
            lines += ["Random effects:"] + [" " + s for s in
                                            self.random_table().to_string(index=False).splitlines()]
            groups = ", ".join(f"{g}, {n}" for g, n in m.ngroups.items())
            lines += [f"Number of obs: {m.nobs}, groups:  {groups}", ""]
        else:
            lines += [f"Residual standard error: {m.sigma:.4g} on {m.nobs - len(m.coef_names)} degrees of freedom", ""]
        lines += ["Fixed effects:"] + self.fixed_table().to_string().splitlines()
        lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        cor = self.correlation_table()
        if cor is not None and len(cor) <= 12:
            lines += ["", "Correlation of Fixed Effects:"] + cor.to_string().splitlines()
        if m.random.terms and m.is_singular:
            lines += ["", "boundary (singular) fit: see is_singular"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        m = self.result
        parts = ["<div class='mixedpy-summary'>"]
        parts += [f"<p>{html.escape(line)}</p>" for line in self.header() if line]
        if m.random.terms:
            parts += ["<h4>Random effects</h4>", self.random_table().to_html(index=False),
                      f"<p>Number of obs: {m.nobs}; groups: "
                      + html.escape(", ".join(f"{g} {n}" for g, n in m.ngroups.items())) + "</p>"]
        parts += ["<h4>Fixed effects</h4>", self.fixed_table().to_html(), "</div>"]
        return "\n".join(parts)
