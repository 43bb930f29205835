# emmeans (1.x) on glmer fits: link and response scale means, pairwise contrasts (link scale,
# and type = "response": odds ratios / ratios), for mixedpy's GLMM emmeans tests.
# glmer with the tight inner tolerance of tests/reference/glmer_ref.R.
# Run from the repository root: Rscript tests/reference/glmm_emmeans_ref.R
suppressPackageStartupMessages({library(lme4); library(emmeans); library(jsonlite)})
ctl <- glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
cols <- function(df) lapply(as.list(df), function(v) if (is.factor(v)) as.character(v) else
  if (is.numeric(v) && all(is.infinite(v))) as.character(v) else v)
cases <- list(
  grouseticks_year = list(csv = "mixedpy/datasets/grouseticks.csv", factors = c("YEAR", "BROOD", "INDEX", "LOCATION"),
                          formula = TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                          family = poisson(), specs = "YEAR"),
  contra_probit_livch = list(csv = "mixedpy/datasets/Contraception.csv", factors = c("woman", "district", "livch", "urban"),
                             formula = use ~ age + urban + livch + (1 | district),
                             family = binomial(link = "probit"), specs = "livch"),
  verbagg_btype = list(csv = "mixedpy/datasets/VerbAgg.csv", factors = c("id", "item", "Gender", "btype", "situ"),
                       formula = r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item),
                       family = binomial(), specs = "btype")
)
for (nm in names(cases)) {
  cs <- cases[[nm]]
  d <- read.csv(cs$csv, stringsAsFactors = FALSE)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  m <- glmer(cs$formula, data = d, family = cs$family, control = ctl)
  el <- emmeans(m, cs$specs)
  er <- emmeans(m, cs$specs, type = "response")
  out <- list(formula = deparse(cs$formula), family = cs$family$family, link = cs$family$link,
              csv = basename(cs$csv), specs = cs$specs, minus2logLik = -2 * as.numeric(logLik(m)),
              emmeans_link = cols(as.data.frame(summary(el))),
              emmeans_response = cols(as.data.frame(summary(er))),
              pairs_link = cols(as.data.frame(summary(pairs(el)))),
              pairs_response = cols(as.data.frame(summary(pairs(er)))))
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
             file.path("tests/reference/expected_glmer_emmeans", paste0(nm, ".json")))
  cat(nm, "done\n")
}
