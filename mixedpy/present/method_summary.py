"""The summary of fits not by REML/ML optimization: known variance components, ANOVA (Henderson
III) and Gibbs sampling — titled by the method. A Gibbs fit shows posterior columns (mean, SD, 95 %
credible interval, effective sample size, split R-hat) for the fixed effects and the variance
components instead of t values (see :mod:`mixedpy.variance.mcmc`)."""
from __future__ import annotations

import html

import pandas as pd

from .rprint import print_matrix
from .summary import Summary

_KEY = ("2.5% to 97.5%: the 95% credible interval; ESS: effective sample size; R-hat: split-chain, near 1 "
        "when the chain has converged")
_HOW = {"known": "at known variance components (MME solved directly)",
        "anova": "by ANOVA (method of moments, Henderson III)",
        "bayes": "by Gibbs sampling (posterior means)"}


class MethodSummary(Summary):
    """:class:`~mixedpy.present.summary.Summary` titled by the estimation method.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="anova")
    >>> str(m.summary()).splitlines()[0]
    'Linear mixed model fit by ANOVA (method of moments, Henderson III) [mixedpy]'
    >>> mb = mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
    ...                        n_iter=600, burn=100, seed=1, progress=False)
    >>> s = mb.summary()
    >>> s.fixed_table().columns.tolist()
    ['Mean', 'SD', '2.5%', '97.5%', 'ESS', 'R-hat']
    >>> "t value" in str(s), "Posterior of the variance components" in str(s)
    (False, True)
    """

    def title(self) -> str:
        """The first line, naming the estimation method.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="anova").summary()
        >>> s.title()
        'Linear mixed model fit by ANOVA (method of moments, Henderson III) [mixedpy]'
        """
        how = _HOW.get(self.result.method)
        return f"Linear mixed model fit {how} [mixedpy]" if how else super().title()

    def header(self) -> list[str]:
        """The title, formula, data and method lines.

        Examples
        --------
        >>> import mixedpy
        >>> s = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="anova").summary()
        >>> s.header()[1:3]
        ['Formula: Yield ~ 1 + (1 | Batch)', '   Data: dyestuff']
        """
        m = self.result
        if m.method in ("anova", "bayes"):
            lines = [self.title(), f"Formula: {m.formula}", f"   Data: {m.data_name}", ""]
            return lines + [m.optinfo.message, ""]
        return super().header()

    @property
    def _bayes(self) -> bool:
        return self.result.posterior is not None

    def posterior_table(self) -> pd.DataFrame:
        """Posterior mean, SD, 95 % interval, ESS and split R-hat of every kept quantity.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
        ...                       n_iter=300, burn=100, seed=1, progress=False)
        >>> t = m.summary().posterior_table()
        >>> t.columns.tolist(), t.index.tolist()
        (['mean', 'sd', '2.5%', '97.5%', 'ess', 'rhat'], ['(Intercept)', 'var:Batch', 'var:Residual'])
        """
        from ..variance.mcmc import posterior_summary

        return posterior_summary(self.result.posterior)

    def _coef_numeric(self):
        if not self._bayes:
            return super()._coef_numeric()
        post = self.posterior_table().loc[list(self.result.coef_names)]
        tab = pd.DataFrame({"Mean": post["mean"], "SD": post["sd"], "2.5%": post["2.5%"],
                            "97.5%": post["97.5%"], "ESS": post["ess"].round(0), "R-hat": post["rhat"].round(3)},
                           index=post.index)
        return tab, [0, 1, 2, 3], [], False

    def _fixed_caption(self) -> str:
        return "Fixed effects (posterior)" if self._bayes else super()._fixed_caption()

    def _variance_cells(self):
        post = self.posterior_table()
        post = post.loc[[c for c in post.index if c.split(":")[0] in ("var", "cov", "cor")]]
        cells = [[f"{v:.4g}" for v in row[:4]] + [f"{row[4]:.0f}", f"{row[5]:.3f}"]
                 for row in post.to_numpy(dtype=float)]
        return list(post.index), ["Mean", "SD", "2.5%", "97.5%", "ESS", "R-hat"], cells

    def lines(self) -> list[str]:
        """The whole summary as printed lines (with the posterior table of a Bayesian fit).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
        ...                       n_iter=300, burn=100, seed=1, progress=False)
        >>> m.summary().lines()[0]
        'Linear mixed model fit by Gibbs sampling (posterior means) [mixedpy]'
        """
        out = super().lines()
        if self._bayes:
            rows, cols, cells = self._variance_cells()
            out += ["", "Posterior of the variance components:"] + print_matrix(cells, rows, cols, right=True)
            out += [f"({_KEY})"]
        return out

    def _html_extra(self) -> list[str]:
        if not self._bayes:
            return []
        rows, cols, cells = self._variance_cells()
        return [self._html_table(cells, rows, cols, "Variance components (posterior)", 0),
                "<p><small>" + html.escape(_KEY) + "</small></p>"]
