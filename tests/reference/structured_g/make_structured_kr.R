# Kenward-Roger (pbkrtest through lmerTest) for structured random terms written as lme4 models:
#   diag(0 + Machine | Worker)  = (0 + dummy(Machine, "A") | Worker) + ... one term per machine
#   cs(0 + Machine | Worker)    = (1 | Worker) + (1 | Worker:Machine)   (G = s2_w J + s2_wm I)
# Output: structured_kr.json (anova KR tables, KR-adjusted vcov, REML criteria).
# Run: Rscript tests/reference/structured_g/make_structured_kr.R  (from the repository root)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)})
d <- read.csv("tests/reference/structured_g/machines.csv")
d$Machine <- factor(d$Machine); d$Worker <- factor(d$Worker)
models <- list(
  machines_diag = score ~ Machine + (0 + dummy(Machine, "A") | Worker) + (0 + dummy(Machine, "B") | Worker) +
    (0 + dummy(Machine, "C") | Worker),
  machines_cs = score ~ Machine + (1 | Worker) + (1 | Worker:Machine))
out <- list()
for (nm in names(models)) {
  m <- lmer(models[[nm]], data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
  a <- anova(m, ddf = "Kenward-Roger", type = 3)
  V <- as.matrix(vcovAdj(m))
  ct <- summary(m, ddf = "Kenward-Roger")$coefficients
  out[[nm]] <- list(reml = as.numeric(-2 * logLik(m)), F = a[["F value"]], num_df = a[["NumDF"]],
                    den_df = a[["DenDF"]], p = a[["Pr(>F)"]], PhiA = unname(V),
                    coef_se = unname(ct[, "Std. Error"]), coef_df = unname(ct[, "df"]))
}
out$versions <- list(lme4 = as.character(packageVersion("lme4")), pbkrtest = as.character(packageVersion("pbkrtest")),
                     lmerTest = as.character(packageVersion("lmerTest")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/structured_g/structured_kr.json")
