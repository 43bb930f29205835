# Profile-likelihood intervals of glmer fits (lme4's confint(method = "profile"), oldNames = FALSE)
# for mixedpy's GLMM profile tests: several scalar terms (Poisson) and a correlated slope
# (binomial).  Fits with the tight inner tolerance of tests/reference/glmer_ref.R.
# Run from the repository root: Rscript tests/reference/glmm_profile_ref.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ctl <- glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
cases <- list(
  grouseticks = list(csv = "mixedpy/datasets/grouseticks.csv", factors = c("YEAR", "BROOD", "INDEX", "LOCATION"),
                     formula = TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                     family = poisson()),
  contra_slope = list(csv = "mixedpy/datasets/Contraception.csv", factors = c("woman", "district", "livch", "urban"),
                      formula = NULL, family = binomial())
)
ref <- fromJSON("tests/reference/expected_glmer/contra_slope.json")
cases$contra_slope$formula <- as.formula(ref$r_formula)
for (nm in names(cases)) {
  cs <- cases[[nm]]
  d <- read.csv(cs$csv, stringsAsFactors = FALSE)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  m <- glmer(cs$formula, data = d, family = cs$family, control = ctl)
  ci <- confint(m, method = "profile", oldNames = FALSE)
  out <- list(formula = deparse(cs$formula), csv = basename(cs$csv), family = cs$family$family,
              minus2logLik = -2 * as.numeric(logLik(m)),
              rownames = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
             file.path("tests/reference/expected_glmer_profile", paste0(nm, ".json")))
  cat(nm, "done\n")
}
