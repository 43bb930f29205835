# Time lme4's lmer() (and lmerTest's anova()) on one data set; prints one JSON line.
# usage: Rscript lme4_bench.R DATA.csv "FORMULA" FACTORS(comma) REML(TRUE/FALSE) REPEATS ANOVA(TRUE/FALSE)
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
a <- commandArgs(TRUE)
d <- read.csv(a[1], stringsAsFactors = TRUE)
for (f in strsplit(a[3], ",")[[1]]) if (nzchar(f)) d[[f]] <- factor(d[[f]])
reml <- as.logical(a[4]); reps <- as.integer(a[5]); do_anova <- as.logical(a[6])
form <- as.formula(a[2])
times <- numeric(reps)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  m <- lme4::lmer(form, data = d, REML = reml)
  times[i] <- proc.time()[["elapsed"]] - t0
}
crit <- if (reml) REMLcrit(m) else deviance(m)
out <- list(fit_seconds = median(times), criterion = crit, nfev = m@optinfo$feval)
if (do_anova) {
  t0 <- proc.time()[["elapsed"]]
  m2 <- lmerTest::lmer(form, data = d, REML = reml)
  t1 <- proc.time()[["elapsed"]]
  an <- anova(m2, type = 3)
  # lmerTest does its Satterthwaite work (Hessian, Jacobian) while fitting: count its extra fit time
  out$anova_seconds <- (proc.time()[["elapsed"]] - t0) - median(times)
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
