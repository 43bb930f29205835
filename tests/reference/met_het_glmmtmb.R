# Multi-environment trial with a residual variance per environment and crossed random genotype and
# genotype:environment effects (issue #14), fitted by glmmTMB (dispformula = ~ env, REML = TRUE).
# usage (from tests/reference): Rscript met_het_glmmtmb.R
# Writes data/met_het.csv (simulated: 8 environments x 3 reps x 80 genotypes) and
# expected_glmmtmb/met_het.json.  mixedpy: fit("y ~ env + env:rep + (1 | geno) + (1 | geno:env)",
# residual = "het(env)").  glmmTMB's REML -2 logLik (beta integrated out by the Laplace
# approximation, exact here) is lme4's REML criterion.
suppressMessages({library(glmmTMB); library(jsonlite)})
num <- function(x) unname(as.numeric(x))
set.seed(20240614)
ne <- 8; nr <- 3; ng <- 80
d <- expand.grid(geno = sprintf("G%02d", 1:ng), rep = sprintf("R%d", 1:nr), env = sprintf("E%d", 1:ne),
                 stringsAsFactors = FALSE)
env_mean <- setNames(rnorm(ne, 50, 8), sprintf("E%d", 1:ne))
rep_eff <- rnorm(ne * nr, 0, 1.5); names(rep_eff) <- paste(rep(names(env_mean), each = nr), 1:nr)
g <- setNames(rnorm(ng, 0, 2), sprintf("G%02d", 1:ng))
ge <- rnorm(ng * ne, 0, 1.2); names(ge) <- paste(rep(names(g), ne), rep(names(env_mean), each = ng))
env_sd <- setNames(seq(1, 3.5, length.out = ne), names(env_mean))
d$y <- env_mean[d$env] + rep_eff[paste(d$env, as.integer(sub("R", "", d$rep)))] + g[d$geno] +
  ge[paste(d$geno, d$env)] + rnorm(nrow(d), 0, env_sd[d$env])
d$y <- round(d$y, 4)
write.csv(d, "data/met_het.csv", row.names = FALSE)
d <- read.csv("data/met_het.csv", stringsAsFactors = TRUE)
t0 <- proc.time()[["elapsed"]]
m <- glmmTMB(y ~ env + env:rep + (1 | geno) + (1 | geno:env), dispformula = ~ env, data = d, REML = TRUE,
             control = glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4, rel.tol = 1e-12)))
el <- proc.time()[["elapsed"]] - t0
cf <- fixef(m)$cond
V <- vcov(m)$cond
vc <- VarCorr(m)$cond
nd <- data.frame(env = levels(d$env), rep = "R1", geno = "G01")
disp_sd <- predict(m, newdata = nd, type = "disp", re.form = NA)
out <- list(
  formula = "y ~ env + env:rep + (1 | geno) + (1 | geno:env)", residual = "het(env)",
  m2rl = num(-2 * logLik(m)), coef_names = names(cf), estimate = num(cf), se = num(sqrt(diag(V))),
  var_geno = num(vc$geno[1, 1]), var_geno_env = num(vc[["geno:env"]][1, 1]),
  env = levels(d$env), env_resid_sd = num(disp_sd),
  converged = m$fit$convergence == 0, pdHess = m$sdr$pdHess, seconds = el)
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "expected_glmmtmb/met_het.json")
cat(sprintf("-2RL %.6f  (%.1fs)  sd per env %s\n", -2 * logLik(m), el, paste(round(disp_sd, 4), collapse = " ")))
