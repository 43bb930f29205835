# References for structured random-effect covariances (issue #15): tests/test_structured_g.py
# Run from the repository root: Rscript tests/reference/structured_g/make_structured_g.R
suppressPackageStartupMessages({library(nlme); library(lme4); library(glmmTMB); library(jsonlite)})
out <- "tests/reference/structured_g"
data(Machines, package = "nlme")
mach <- data.frame(Worker = as.character(Machines$Worker), Machine = as.character(Machines$Machine),
                   score = Machines$score)
write.csv(mach, file.path(out, "machines.csv"), row.names = FALSE)
met <- read.csv("mixedpy/datasets/met.csv")
met <- met[!is.na(met$yield), ]
met$env <- factor(met$env); met$genotype <- factor(met$genotype)

vc_tmb <- function(m, grp) {           # the group's covariance matrices (one per term) summed
  v <- VarCorr(m)$cond; S <- 0
  for (nm in names(v)) if (sub("\\.[0-9]+$", "", nm) == grp) S <- S + as.matrix(v[[nm]])
  S
}
tmb <- function(f, d, grp) {
  m <- glmmTMB(f, data = d, REML = TRUE, control = glmmTMBControl(optCtrl = list(iter.max = 5000, eval.max = 5000)))
  list(reml = -2 * as.numeric(logLik(m)), G = unname(vc_tmb(m, grp)), sigma2 = sigma(m)^2,
       beta = unname(fixef(m)$cond), conv = m$fit$convergence)
}
ref <- list()
# Machines
ref$machines_diag_nlme <- {
  m <- lme(score ~ Machine, random = list(Worker = pdDiag(~ 0 + Machine)), data = Machines, method = "REML")
  list(reml = -2 * as.numeric(logLik(m)), G = unname(diag(as.numeric(VarCorr(m)[1:3, "Variance"]))),
       sigma2 = m$sigma^2)
}
ref$machines_cs_nlme <- {
  m <- lme(score ~ Machine, random = list(Worker = pdCompSymm(~ 0 + Machine)), data = Machines, method = "REML")
  list(reml = -2 * as.numeric(logLik(m)), G = unname(as.matrix(pdMatrix(m$modelStruct$reStruct)[[1]]) * m$sigma^2),
       sigma2 = m$sigma^2)
}
ref$machines_us_lme4 <- {
  m <- lmer(score ~ Machine + (0 + Machine | Worker), data = Machines, REML = TRUE)
  list(reml = as.numeric(REMLcrit(m)), G = unname(as.matrix(VarCorr(m)$Worker)), sigma2 = sigma(m)^2)
}
ref$machines_diag_tmb <- tmb(score ~ Machine + diag(0 + Machine | Worker), Machines, "Worker")
ref$machines_cs_tmb <- tmb(score ~ Machine + cs(0 + Machine | Worker), Machines, "Worker")   # heterogeneous: our csh
ref$machines_ar1_tmb <- tmb(score ~ Machine + ar1(0 + Machine | Worker), Machines, "Worker")
ref$machines_fa1_tmb <- tmb(score ~ Machine + rr(0 + Machine | Worker, d = 1) + diag(0 + Machine | Worker), Machines, "Worker")
# the simulated MET shipped with mixedpy (24 genotypes x 6 environments x 3 replicates)
ref$met_diag_tmb <- tmb(yield ~ env + diag(0 + env | genotype), met, "genotype")
ref$met_us_tmb <- tmb(yield ~ env + us(0 + env | genotype), met, "genotype")
ref$met_cs_tmb <- tmb(yield ~ env + cs(0 + env | genotype), met, "genotype")
ref$met_rr1_tmb <- tmb(yield ~ env + rr(0 + env | genotype, d = 1), met, "genotype")
ref$met_rr2_tmb <- tmb(yield ~ env + rr(0 + env | genotype, d = 2), met, "genotype")
ref$met_fa1_tmb <- tmb(yield ~ env + rr(0 + env | genotype, d = 1) + diag(0 + env | genotype), met, "genotype")
ref$met_fa2_tmb <- tmb(yield ~ env + rr(0 + env | genotype, d = 2) + diag(0 + env | genotype), met, "genotype")
ref$met_us_lme4 <- {
  m <- lmer(yield ~ env + (0 + env | genotype), data = met, REML = TRUE)
  list(reml = as.numeric(REMLcrit(m)), G = unname(as.matrix(VarCorr(m)$genotype)), sigma2 = sigma(m)^2)
}
ref$versions <- list(glmmTMB = as.character(packageVersion("glmmTMB")), nlme = as.character(packageVersion("nlme")),
                     lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out, "structured_g.json"))

# Satterthwaite df of the diagonal model: lme4 writes diag as one term per level (lmerTest)
suppressPackageStartupMessages(library(lmerTest))
sat <- function(m) { ct <- coef(summary(m)); list(estimate = unname(ct[, 1]), se = unname(ct[, 2]), df = unname(ct[, 3]),
                                                    reml = as.numeric(REMLcrit(m))) }
mdiag <- lmer(score ~ Machine + (0 + dummy(Machine, "A") | Worker) + (0 + dummy(Machine, "B") | Worker) +
                (0 + dummy(Machine, "C") | Worker), data = Machines, REML = TRUE)
sat_ref <- list(machines_diag = sat(mdiag),
                machines_us = sat(lmer(score ~ Machine + (0 + Machine | Worker), data = Machines, REML = TRUE)))
writeLines(toJSON(sat_ref, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out, "structured_g_satterthwaite.json"))
