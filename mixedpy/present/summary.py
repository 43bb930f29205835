"""A summary that prints like lmerTest's ``summary()`` and renders as HTML in notebooks.

The text follows R's printing rules so that the numbers line up with what students see in R:

* numbers are formatted as R's ``format(x, digits)`` does (one common number of decimals per block,
  fixed notation unless scientific is narrower, trailing zeros kept only when a neighbour needs them;
  :mod:`.rformat`);
* the coefficient table is ``printCoefmat(digits = 4)`` (estimates, standard errors and df formatted
  together, t values rounded to 3 decimals, p values by ``format.pval``, significance stars;
  :mod:`.rprint`);
* the random-effects table is lme4's ``formatVC`` (variances and SDs to 4 significant digits,
  correlations to 2 decimals) and coefficient names in the correlation table are abbreviated with R's
  ``abbreviate`` (this module).

A fit without random terms is summarized like R's ``summary(lm(...))``.

Examples
--------
>>> import mixedpy
>>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
>>> print("\\n".join(str(m.summary()).splitlines()[2:10]))
   Data: sleepstudy
<BLANKLINE>
REML criterion at convergence: 1743.6
<BLANKLINE>
Scaled residuals: 
    Min      1Q  Median      3Q     Max 
-3.9536 -0.4634  0.0231  0.4634  5.1793 
<BLANKLINE>
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
from scipy import stats

from .rformat import EPS, abbreviate, abbreviate_all, format_pval, r_format, r_round, r_signif, zapsmall
from .rprint import DIGITS, LEGEND, WIDTH, coefmat, print_matrix, print_named

__all__ = [  # the formatting helpers are re-exported: they were defined here
    "COR_MAX", "DIGITS", "EPS", "LEGEND", "WIDTH", "Summary", "abbreviate", "abbreviate_all", "coefmat",
    "correlation_cells", "format_pval", "lm_footer", "print_matrix", "print_named", "r_format", "r_round",
    "r_signif", "varcorr_cells", "zapsmall",
]

COR_MAX = 12        # getOption("lme4.summary.cor.max")


# --- lme4's and lm's sections ----------------------------------------------------------------------
def varcorr_cells(blocks, sigma: float, digits: int = DIGITS) -> tuple[list[str], list[list[str]]]:
    """lme4's ``formatVC``: (column names, rows) of the random-effects table.

    ``blocks`` is a list of (group label, term names, k × k covariance matrix), ``sigma`` the residual SD.

    Examples
    --------
    >>> import numpy as np
    >>> cols, rows = varcorr_cells([("Batch", ["(Intercept)"], np.array([[1764.05]]))], 49.51)
    >>> cols, rows
    (['Groups', 'Name', 'Variance', 'Std.Dev.'], [['Batch', '(Intercept)', '1764', '42.00'], ['Residual', '', '2451', '49.51']])
    """
    covs = [np.atleast_2d(np.asarray(S, dtype=float)) for _, _, S in blocks]
    sds = np.concatenate([np.sqrt(np.diag(S)) for S in covs] + [[sigma]])
    var_s = r_format(sds ** 2, digits)
    sd_s = r_format(sds, digits)
    maxlen = max([S.shape[0] for S in covs] + [1])
    rows, i = [], 0
    for (label, names, _), S in zip(blocks, covs):
        k = S.shape[0]
        sd = np.sqrt(np.diag(S))
        with np.errstate(invalid="ignore", divide="ignore"):
            C = np.where(np.outer(sd, sd) > 0, S / np.outer(sd, sd), np.nan)
        np.fill_diagonal(C, 1.0)
        dig = max(2, digits - 2)
        cc = r_format([r_round(v, dig) for v in C.ravel()], 7, nsmall=dig)
        for a, name in enumerate(names):
            cor = [cc[a * k + b] for b in range(a)] + [""] * (maxlen - 1 - a)
            rows.append([label if a == 0 else "", str(name), var_s[i], sd_s[i]] + cor[:maxlen - 1])
            i += 1
    rows.append(["Residual", "", var_s[i], sd_s[i]] + [""] * (maxlen - 1))
    cols = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] + [""] * (maxlen - 2) if maxlen > 1 else [])
    return cols, rows


def correlation_cells(V: np.ndarray, names: list[str]):
    """lme4's "Correlation of Fixed Effects": (row names, column names, cells) from Var(β̂).

    Examples
    --------
    >>> import numpy as np
    >>> correlation_cells(np.array([[46.5746, -1.4511], [-1.4511, 2.3895]]), ["(Intercept)", "Days"])
    (['Days'], ['(Intr)'], [['-0.138']])
    """
    V = np.asarray(V, dtype=float)
    p = V.shape[0]
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    s = r_format([r_round(v, 3) for v in C.ravel()], 7, nsmall=3)
    rows = abbreviate_all(names, 11)[1:]
    cols = abbreviate_all(names, 6)[:-1]
    cells = [[s[i * p + j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return rows, cols, cells


def lm_footer(sigma: float, rdf: int, r2: float | None = None, adj_r2: float | None = None,
              fstat: float | None = None, df1: int | None = None, digits: int = DIGITS) -> list[str]:
    """The last lines of R's ``summary(lm(...))``: residual SE, R², F statistic.

    Examples
    --------
    >>> lm_footer(0.28797, 4, 0.69767, 0.54651, 4.6156, 2)[0]
    'Residual standard error: 0.288 on 4 degrees of freedom'
    """
    lines = [f"Residual standard error: {r_format([r_signif(sigma, digits)])[0]} on {rdf} degrees of freedom"]
    if fstat is not None:
        pval = float(stats.f.sf(fstat, df1, rdf))
        lines.append(f"Multiple R-squared:  {r2:.{digits}g},\tAdjusted R-squared:  {adj_r2:.{digits}g} ")
        lines.append(f"F-statistic: {fstat:.{digits}g} on {df1} and {rdf} DF,  p-value: "
                     f"{format_pval([pval], digits)[0]}")
    return lines


# --- the summary ----------------------------------------------------------------------------------
class Summary:
    """Printable summary of a fit (``str()`` for the terminal, ``_repr_html_`` for notebooks).

    Parameters
    ----------
    result : LmmResult
    correlation : bool, optional
        Show the correlation of the fixed effects (default: when there are at most 12 of them).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> s = m.summary()
    >>> print("\\n".join(s.lines()[10:15]))
    Random effects:
     Groups   Name        Variance Std.Dev.
     Batch    (Intercept) 1764     42.00   
     Residual             2451     49.51   
    Number of obs: 30, groups:  Batch, 6
    >>> s.fixed_table().loc["(Intercept)", ["Estimate", "Std. Error"]].tolist()
    ['1527.50', '  19.38']
    >>> "<table" in s._repr_html_()
    True
    """

    def __init__(self, result, correlation: bool | None = None):
        self.result = result
        self.correlation = correlation

    # ---- pieces -------------------------------------------------------------------------------
    @property
    def _mixed(self) -> bool:
        return bool(self.result.random.terms)

    @property
    def _has_df(self) -> bool:
        return bool(np.isfinite(self.result.coef_table["df"]).all())

    def title(self) -> str:
        """The first line: the fitting method and the df method of the t tests.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.title()
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method [mixedpy]"
        """
        m = self.result
        if not self._mixed:
            return "Linear model fit by least squares [mixedpy]"
        method = str(getattr(m, "method", "reml" if m.reml else "ml")).lower()
        how = {"reml": "REML", "ml": "maximum likelihood", "anova": "ANOVA (method of moments)",
               "bayes": "Bayesian MCMC"}.get(method, method)
        if self._has_df:
            return f"Linear mixed model fit by {how}. t-tests use Satterthwaite's method [mixedpy]"
        return f"Linear mixed model fit by {how} [mixedpy]"

    def header(self) -> list[str]:
        """The title, formula, data and criterion lines.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.header()[1:3]
        ['Formula: Yield ~ 1 + (1 | Batch)', '   Data: dyestuff']
        """
        m = self.result
        lines = [self.title(), f"Formula: {m.formula}", f"   Data: {m.data_name}", ""]
        lines[3:3] = [f"Residual: {m.residual_structure}"] if getattr(m, "residual_structure", None) else []
        method = str(getattr(m, "method", "reml" if m.reml else "ml")).lower()
        if not self._mixed or method not in ("reml", "ml"):
            return lines
        if m.reml:
            crit = r_format([r_round(m.reml_criterion, 1)])[0].strip()
            lines.append(f"REML criterion at convergence: {crit}")
        else:
            vals = [r_round(v, 1) for v in (m.aic, m.bic, m.loglik, m.deviance)]
            strings = r_format(vals + [float(m.df_resid)])[:4] + [r_format([m.df_resid])[0]]
            lines += print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strings)
        return lines + [""]

    def residual_cells(self) -> tuple[str, list[str], list[str]]:
        """(title, names, formatted values) of the residuals block: the quantiles of the scaled
        residuals (the residuals themselves for a small least-squares fit).

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> title, names, values = s.residual_cells()
        >>> title, names
        ('Scaled residuals: ', ['Min', '1Q', 'Median', '3Q', 'Max'])
        """
        m = self.result
        if self._mixed:
            r = m.residuals(scaled=True).to_numpy()
            title = "Scaled residuals: "
        else:
            r = m.residuals().to_numpy()
            title = "Residuals:"
        if self._mixed or m.nobs - len(m.coef_names) > 5:
            q = zapsmall(np.quantile(r, [0, 0.25, 0.5, 0.75, 1]), DIGITS + 1)
            return title, ["Min", "1Q", "Median", "3Q", "Max"], r_format(q, DIGITS)
        return title, [str(i) for i in m.residuals().index], r_format(r, DIGITS)

    def residual_lines(self) -> list[str]:
        """The residuals block as printed lines.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.residual_lines()[1]
        '    Min      1Q  Median      3Q     Max '
        """
        title, names, values = self.residual_cells()
        return [title] + print_named(names, values) + [""]

    def random_cells(self) -> tuple[list[str], list[list[str]]]:
        """lme4's ``formatVC``: column names and rows of the random-effects table.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> cols, rows = s.random_cells()
        >>> cols, [r[:2] for r in rows]
        (['Groups', 'Name', 'Variance', 'Std.Dev.'], [['Batch', '(Intercept)'], ['Residual', '']])
        """
        m = self.result
        blocks = []
        for label, t, st in zip(m.random.varcorr_labels(), m.random.terms, self._structures()):
            S = m.term_covariance(t)
            if getattr(st, "name", None) == "diag":  # uncorrelated: one row each, no Corr (lme4's ||)
                blocks += [(label, [c], S[a:a + 1, a:a + 1]) for a, c in enumerate(t.columns)]
            else:
                blocks.append((label, list(t.columns), S))
        return varcorr_cells(blocks, m.sigma)

    def _structures(self) -> list:
        """Per random term its covariance structure of G (None: lme4's unstructured term)."""
        spec = getattr(self.result, "spec", None)
        return list(spec.parameters.structures) if spec is not None else [None] * len(self.result.random.terms)

    def structure_lines(self) -> list[str]:
        """One line per structured random term (its G structure), and for fa/rr terms the rotated
        loadings, specific variances and % of tr(G) per factor.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.structure_lines()  # no structured terms
        []
        """
        m, out = self.result, []
        for label, t, st in zip(m.random.varcorr_labels(), m.random.terms, self._structures()):
            if st is None:
                continue
            rank = f", {st.rank}" if getattr(st, "rank", None) is not None else ""
            out.append(f"Covariance of {label}: {st.name}({' + '.join(t.columns)}{rank}) ({st.npar} parameters)")
            if st.name in ("fa", "rr"):
                fl = m.loadings(t.group)
                tab = fl.loadings.copy()
                if st.name == "fa":
                    tab["specific"] = fl.specific
                cells = [r_format(tab[c].to_numpy(), DIGITS) for c in tab.columns]
                rows = [[cells[j][i] for j in range(len(tab.columns))] for i in range(len(tab))]
                out += print_matrix(rows, [str(i) for i in tab.index], list(tab.columns), right=True)
                pct = ", ".join(f"{k} {v:.1f}%" for k, v in fl.percent.items())
                out.append(f"  % of tr(G): {pct}")
        return out

    def _coef_numeric(self) -> tuple[pd.DataFrame, list[int], list[int], bool]:
        ct = self.result.coef_table
        if self._mixed and self._has_df:
            tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "df": ct["df"],
                                "t value": ct["t"], "Pr(>|t|)": ct["p"]}, index=ct.index)
            return tab, [0, 1, 2], [3], True
        if self._mixed:
            tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "t value": ct["t"]},
                               index=ct.index)
            return tab, [0, 1], [2], False
        tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "t value": ct["t"],
                            "Pr(>|t|)": ct["p"]}, index=ct.index)
        return tab, [0, 1], [2], True

    def fixed_cells(self):
        """``printCoefmat`` pieces of the fixed-effects table: (row names, columns, cells, stars).

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> rows, cols, cells, stars = s.fixed_cells()
        >>> rows, cols
        (['(Intercept)'], ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)', ''])
        """
        return coefmat(*self._coef_numeric())

    def fixed_table(self) -> pd.DataFrame:
        """The fixed-effects table as formatted strings (as printed).

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.fixed_table().columns.tolist()[:3]
        ['Estimate', 'Std. Error', 'df']
        """
        rows, cols, cells, _ = self.fixed_cells()
        return pd.DataFrame(cells, index=rows, columns=cols)

    def _show_correlation(self) -> bool:
        p = len(self.result.coef_names)
        if self.correlation is not None:
            return bool(self.correlation) and p > 1
        return self._mixed and 1 < p <= COR_MAX

    def correlation_cells(self):
        """(row names, column names, cells) of the correlation of the fixed effects, or None.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.correlation_cells() is None  # one fixed effect: no correlations
        True
        """
        V = self.result.vcov
        return None if V.shape[0] < 2 else correlation_cells(V.to_numpy(), list(V.index))

    def _groups_line(self) -> str:
        m = self.result
        groups = "; ".join(f"{g}, {n}" for g, n in m.ngroups.items())
        return f"Number of obs: {m.nobs}, groups:  {groups}"

    def _lm_footer(self) -> list[str]:
        m = self.result
        n, p = m.nobs, len(m.coef_names)
        y = np.asarray(m.fixed.y, dtype=float)
        rss = float(np.sum(m.residuals().to_numpy() ** 2))
        df_int = 1 if "(Intercept)" in m.coef_names else 0
        if p <= df_int or n <= p:
            return lm_footer(m.sigma, n - p)
        tss = float(np.sum((y - y.mean()) ** 2)) if df_int else float(np.sum(y ** 2))
        r2 = 1 - rss / tss
        adj = 1 - (1 - r2) * ((n - df_int) / (n - p))
        fstat = ((tss - rss) / (p - df_int)) / (rss / (n - p))
        return lm_footer(m.sigma, n - p, r2, adj, fstat, p - df_int)

    # ---- text -----------------------------------------------------------------------------------
    def lines(self) -> list[str]:
        """The whole summary as printed lines.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.lines()[0]
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method [mixedpy]"
        """
        out = self.header() + self.residual_lines()
        if self._mixed:
            cols, rows = self.random_cells()
            out += ["Random effects:"] + print_matrix(rows, [""] * len(rows), cols, right=False)
            out += [self._groups_line()] + self.structure_lines()
        rows, cols, cells, stars = self.fixed_cells()
        if self._mixed:
            out += [""]
        if rows:
            out += ["Fixed effects:" if self._mixed else "Coefficients:"]
            out += print_matrix(cells, rows, cols, right=True)
            if stars:
                out += ["---", "Signif. codes:  " + LEGEND]
        else:
            out += ["No fixed effect coefficients"]
        if not self._mixed:
            out += [""] + self._lm_footer()
        if self._show_correlation():
            rn, cn, cc = self.correlation_cells()
            out += ["", "Correlation of Fixed Effects:"] + print_matrix(cc, rn, cn, right=False)
        elif self._correlation_note():
            out += [""] + self._correlation_note()
        return out + self.notes()

    def _correlation_note(self) -> list[str]:
        p = len(self.result.coef_names)
        if self._mixed and self.correlation is None and p > COR_MAX and not self._show_correlation():
            return [f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                    "Use s = m.summary(); s.correlation = True; print(s)  or  m.vcov  if you need it."]
        return []

    def notes(self) -> list[str]:
        """The closing remarks: a non-converged optimizer, a singular fit.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).summary()
        >>> s.notes()
        []
        """
        m, out = self.result, []
        if self._mixed:
            opt = getattr(m, "optinfo", None)
            if opt is not None and not getattr(opt, "converged", True):
                out += [f"optimizer ({opt.method}) did not converge: {opt.message}"]
            if m.is_singular:
                out += ["boundary (singular) fit: see LmmResult.is_singular"]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return str(self)

    # ---- HTML -----------------------------------------------------------------------------------
    @staticmethod
    def _html_table(cells, row_names, col_names, caption: str, numeric_from: int) -> str:
        """Columns from ``numeric_from`` on are right-aligned, except an unnamed last one (the stars)."""
        esc = html.escape
        corner = [""] if row_names is not None else []
        head = "".join(f"<th>{esc(c)}</th>" for c in corner + list(col_names))
        ncol = len(col_names)

        def align(j):
            return "right" if j >= numeric_from and not (j == ncol - 1 and col_names[j] == "") else "left"

        body = []
        for i, row in enumerate(cells):
            tds = "".join(f"<td style='text-align:{align(j)}'>{esc(c.strip())}</td>"
                          for j, c in enumerate(row))
            rn = f"<th style='text-align:left'>{esc(row_names[i])}</th>" if row_names is not None else ""
            body.append(f"<tr>{rn}{tds}</tr>")
        return (f"<table class='mixedpy-table'><caption style='text-align:left;font-weight:bold'>"
                f"{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def _repr_html_(self) -> str:
        """Everything the text has, as HTML: header, residual quantiles, random effects, fixed effects
        with significance codes, the least-squares footer, correlations and the closing notes."""
        esc = html.escape
        head = self.header()
        parts = ["<div class='mixedpy-summary'>", f"<p><b>{esc(head[0])}</b></p>"]
        rest = "\n".join(head[1:]).strip("\n")
        if rest:
            parts.append("<pre style='margin:0'>" + esc(rest) + "</pre>")
        title, names, values = self.residual_cells()
        parts.append(self._html_table([values], None, names, title.strip(), 0))
        if self._mixed:
            cols, rows = self.random_cells()
            parts.append(self._html_table(rows, None, cols, "Random effects", 2))
            parts.append(f"<p>{esc(self._groups_line())}</p>")
        rows, cols, cells, stars = self.fixed_cells()
        if rows:
            cols = [c if c else "" for c in cols]
            parts.append(self._html_table(cells, rows, cols, self._fixed_caption(), 0))
            if stars:
                parts.append(f"<p><small>Signif. codes: {esc(LEGEND)}</small></p>")
        else:
            parts.append("<p>No fixed effect coefficients</p>")
        parts += self._html_extra()
        if not self._mixed:
            parts.append("<p>" + "<br>".join(esc(s) for s in self._lm_footer()) + "</p>")
        if self._show_correlation():
            rn, cn, cc = self.correlation_cells()
            parts.append(self._html_table(cc, rn, cn, "Correlation of fixed effects", 0))
        elif self._correlation_note():
            parts.append("<p><small>" + esc(" ".join(self._correlation_note())) + "</small></p>")
        if self.notes():
            parts.append("<p><i>" + "<br>".join(esc(n) for n in self.notes()) + "</i></p>")
        parts.append("</div>")
        return "\n".join(parts)

    def _fixed_caption(self) -> str:
        return "Fixed effects" if self._mixed else "Coefficients"

    def _html_extra(self) -> list[str]:
        """HTML blocks a subclass adds after the fixed effects (none here)."""
        return []
