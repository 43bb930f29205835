# glmmTMB side of benchmarks/bench_residual.py: the same models on the same CSVs; prints JSON.
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
which <- if (length(args)) args[1] else "us"
if (which == "us") {
  d <- read.csv("benchmarks/data/mmrm_us_30k.csv")
  d$AVISIT <- factor(d$AVISIT); d$USUBJID <- factor(d$USUBJID)
  t <- system.time(m <- glmmTMB(Y ~ ARM * AVISIT + BASE + us(AVISIT + 0 | USUBJID), data = d,
                                 dispformula = ~0, REML = TRUE))[["elapsed"]]
} else {
  d <- read.csv("benchmarks/data/ar1_ri_600k.csv")
  d$time <- factor(d$time); d$id <- factor(d$id)
  t <- system.time(m <- glmmTMB(y ~ x + (1 | id) + ar1(time + 0 | id), data = d, REML = TRUE))[["elapsed"]]
}
cat(toJSON(list(model = which, seconds = t, m2ll = -2 * as.numeric(logLik(m)),
                fixef = fixef(m)$cond), digits = 10, auto_unbox = TRUE), "\n")
