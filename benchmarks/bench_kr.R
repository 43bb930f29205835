# pbkrtest's Kenward-Roger type III table through lmerTest, timed (used by bench_kr.py).
# usage: Rscript bench_kr.R data.csv "formula" out.json
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
for (f in names(d)) if (is.character(d[[f]])) d[[f]] <- factor(d[[f]])
t0 <- proc.time()[["elapsed"]]
m <- lmerTest::lmer(as.formula(args[2]), d, REML = TRUE)
fit_s <- proc.time()[["elapsed"]] - t0
t0 <- proc.time()[["elapsed"]]
a <- anova(m, type = 3, ddf = "Kenward-Roger")
kr_s <- proc.time()[["elapsed"]] - t0
print(a)
write_json(list(terms = rownames(a), F = unname(a[["F value"]]), DenDF = unname(a$DenDF),
                NumDF = unname(a$NumDF), fit_seconds = fit_s, kr_seconds = kr_s,
                reml_criterion = REMLcrit(m)), args[3], digits = NA, auto_unbox = TRUE)
