# Profile-likelihood (ML) intervals of residual variances per group, from glmmTMB's profile
# (TMB::tmbprofile through confint(method = "profile")): dispformula = ~ 0 + g makes each
# dispersion coefficient the log of one group's residual variance (glmmTMB 1.1's gaussian
# dispersion is σ²; checked: exp(coefficient) equals nlme's / mixedpy's ML variance), so the
# interval of the variance is exp(limits) (profile intervals are invariant under monotone maps).
# Run from the repository root: Rscript tests/reference/profile_residual_ref.R
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
o <- read.csv("tests/reference/data/nlme_o.csv")
o$Sex <- factor(o$Sex); o$Subject <- factor(o$Subject)
out <- list()
cases <- list(
  het_sex_ri = list(formula = distance ~ age + Sex + (1 | Subject), disp = ~ 0 + Sex,
                    py = "distance ~ age + Sex + (1 | Subject)", residual = "het(Sex)"),
  het_sex_gls = list(formula = distance ~ age * Sex, disp = ~ 0 + Sex,
                     py = "distance ~ age * Sex", residual = "het(Sex)")
)
for (nm in names(cases)) {
  cs <- cases[[nm]]
  m <- glmmTMB(cs$formula, data = o, dispformula = cs$disp, REML = FALSE)
  dp <- fixef(m)$disp
  ci <- confint(m, method = "profile", parm = "disp_", level = 0.95)
  lev <- levels(o$Sex)
  res <- list(formula = cs$py, residual = cs$residual, data = "nlme_o.csv", method = "ML",
              deviance = -2 * as.numeric(logLik(m)),
              variance = setNames(as.list(exp(dp)), lev),
              lower = setNames(as.list(exp(ci[, 1])), lev),
              upper = setNames(as.list(exp(ci[, 2])), lev),
              ci_rownames = rownames(ci))
  out[[nm]] <- res
  writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE),
             file.path("tests/reference/expected_profile_residual", paste0(nm, ".json")))
}
print(out)
