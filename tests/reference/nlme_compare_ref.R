# REML likelihood-ratio tests between residual structures with the same fixed part, as nlme's
# anova(m1, m2) (no ML refit): tests/test_residual_compare.py.  Data: data/nlme_o.csv (Orthodont,
# written by nlme_residual_ref.R).  Run from tests/reference: Rscript nlme_compare_ref.R
suppressPackageStartupMessages({library(nlme); library(jsonlite)})
gctl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12, opt = "nlminb")
lctl <- lmeControl(maxIter = 500, msMaxIter = 500, msMaxEval = 5000, niterEM = 50, tolerance = 1e-10,
                   msTol = 1e-12, opt = "nlminb", returnObject = TRUE)
o <- read.csv("data/nlme_o.csv", stringsAsFactors = FALSE)
o$Subject <- factor(o$Subject); o$Sex <- factor(o$Sex); o$occf <- factor(o$occ)
tab <- function(a) list(df = a$df, AIC = a$AIC, BIC = a$BIC, logLik = a$logLik,
                        L.Ratio = a$L.Ratio[2], p = a$`p-value`[2])
out <- list(
  cs_us = c(list(formula = "distance ~ age + Sex", small = "cs(occ | Subject)", big = "us(occ | Subject)"),
            tab(anova(gls(distance ~ age + Sex, o, correlation = corCompSymm(form = ~1 | Subject), control = gctl),
                      gls(distance ~ age + Sex, o, correlation = corSymm(form = ~1 | Subject),
                          weights = varIdent(form = ~1 | occf), control = gctl)))),
  ar1_ar1h = c(list(formula = "distance ~ age * Sex", small = "ar1(occ | Subject)", big = "ar1h(occ | Subject)"),
               tab(anova(gls(distance ~ age * Sex, o, correlation = corAR1(form = ~1 | Subject), control = gctl),
                         gls(distance ~ age * Sex, o, correlation = corAR1(form = ~1 | Subject),
                             weights = varIdent(form = ~1 | occf), control = gctl)))),
  lme_hom_het = c(list(formula = "distance ~ age + Sex + (1 | Subject)", small = "", big = "het(Sex)"),
                  tab(anova(lme(distance ~ age + Sex, random = ~1 | Subject, data = o, control = lctl),
                            lme(distance ~ age + Sex, random = ~1 | Subject, data = o,
                                weights = varIdent(form = ~1 | Sex), control = lctl)))))
write_json(out, "expected_nlme_compare/orthodont.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
