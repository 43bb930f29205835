"""The summary of fits not by REML/ML optimization: known variance components, ANOVA (Henderson
III) and Gibbs sampling — titled by the method, with the posterior table for Gibbs fits."""
from __future__ import annotations

from .summary import Summary

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
    """

    def title(self) -> str:
        how = _HOW.get(self.result.method)
        return f"Linear mixed model fit {how} [mixedpy]" if how else super().title()

    def header(self) -> list[str]:
        m = self.result
        if m.method in ("anova", "bayes"):
            lines = [self.title(), f"Formula: {m.formula}", f"   Data: {m.data_name}", ""]
            return lines + [m.optinfo.message, ""]
        return super().header()

    def __str__(self) -> str:
        text = super().__str__()
        if self.result.posterior is not None:
            ci = self.result.credible_intervals().round(5)
            text += "\n\nPosterior means and 95% credible intervals:\n" + ci.to_string()
        return text
