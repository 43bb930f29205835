# lme4 references for the badly scaled cases, fitted on a rescaled covariate and mapped back.
#
# usage (from tests/reference): Rscript make_ref_rescaled.R
# writes expected_rescaled/<name>.json in the layout of make_ref.R's expected/<name>.json.
#
# lme4 stops short of the optimum on these cases (covariates on a 1e3-1e4 scale: "Some predictor
# variables are on very different scales", a degenerate Hessian), so expected/<name>.json is no
# reference beyond its objective.  Here lme4 fits the same model with the covariate divided by K;
# that optimum is mapped exactly onto the original scale:
#   Λ_orig = D⁻¹ Λ_s (D = diag(K on the covariate's random-effect columns, 1 elsewhere)), so
#   theta_orig = the lower triangle of D⁻¹ T_s, term by term.
# lme4 then evaluates the original-scale model at theta_orig (lFormula + mkLmerDevfun + mkMerMod:
# its own deviance, fixed effects, vcov, variance components, BLUPs and conditional variances,
# logLik/AIC/BIC computed on the original data, no optimizer involved).  Satterthwaite df, t, p
# and the ANOVA tables are lmerTest's on the rescaled fit (t, F, df and p do not change when a
# covariate's unit changes; term names are mapped back).  As a check, the fixed effects and SEs of
# the rescaled fit, mapped back by hand (β/K^m, SE/K^m, m = how often the covariate enters the
# column), are compared with the original-scale evaluation and stored as "check".
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
K <- 1000
RESCALE <- list(bigscale_reml = "xbig", bigscale_ml = "xbig", orange_slope_ml = "age",
                sim_uncorr_bigx = "x", sim_uncorr_bigx_ml = "x")
cases <- fromJSON("cases_extra.json", simplifyVector = FALSE)
cases <- Filter(function(cs) cs$name %in% names(RESCALE), cases)
dir.create("expected_rescaled", showWarnings = FALSE)
num <- function(x) unname(as.numeric(x))
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
for (cs in cases) {
  cov <- RESCALE[[cs$name]]; covs <- paste0(cov, "_s")
  d <- read.csv(file.path("data", paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  for (f in unlist(cs$factors)) d[[f]] <- factor(d[[f]])
  d[[covs]] <- d[[cov]] / K
  reml <- isTRUE(cs$reml)
  f_orig <- as.formula(cs$r_formula)
  f_s <- as.formula(gsub(paste0("\\b", cov, "\\b"), covs, cs$r_formula, perl = TRUE))
  back <- function(s) gsub(covs, cov, s, fixed = TRUE)
  power <- function(s) lengths(regmatches(s, gregexpr(covs, s, fixed = TRUE)))  # K^m of a column
  ms <- lmerTest::lmer(f_s, data = d, REML = reml, control = ctrl)
  # theta on the original scale, term by term
  cnms <- getME(ms, "cnms"); th_s <- getME(ms, "theta"); pos <- 0; th <- numeric(0)
  for (cn in cnms) {
    k <- length(cn); T <- matrix(0, k, k); lt <- lower.tri(T, diag = TRUE)
    T[lt] <- th_s[pos + seq_len(sum(lt))]; pos <- pos + sum(lt)
    T <- diag(1 / K^power(cn), k) %*% T
    th <- c(th, T[lt])
  }
  lmod <- lFormula(f_orig, data = d, REML = reml, control = ctrl)
  devf <- do.call(mkLmerDevfun, lmod)
  opt <- list(par = th, fval = devf(th), conv = 0, feval = 0, message = "theta of the rescaled lme4 fit")
  m <- mkMerMod(environment(devf), opt, lmod$reTrms, fr = lmod$fr)
  # by-hand mapping of the rescaled fit, as a check of the evaluation above
  cs_s <- summary(ms)$coefficients; sc <- K^power(rownames(cs_s))
  est_hand <- num(cs_s[, 1]) / sc; se_hand <- num(cs_s[, 2]) / sc
  co <- summary(m)$coefficients
  stopifnot(identical(back(rownames(cs_s)), rownames(co)))
  chk <- list(max_rel_fixef = max(abs(est_hand - co[, 1]) / abs(co[, 1])),
              max_rel_se = max(abs(se_hand - co[, 2]) / co[, 2]),
              rescaled_objective = if (reml) REMLcrit(ms) else deviance(ms),
              objective_shift_expected = if (reml) 2 * sum(log(sc)) else 0)
  vc <- as.data.frame(VarCorr(m))
  re <- ranef(m, condVar = TRUE)
  ranefs <- lapply(names(re), function(g) {
    r <- re[[g]]; pv <- attr(r, "postVar")
    if (is.list(pv)) {
      sds <- do.call(cbind, lapply(pv, function(a) sqrt(as.numeric(a))))
    } else if (ncol(r) == 1) {
      sds <- matrix(sqrt(as.numeric(pv)), ncol = 1)
    } else {
      sds <- t(apply(pv, 3, function(M) sqrt(diag(as.matrix(M)))))
    }
    list(group = g, levels = rownames(r), terms = colnames(r),
         values = unname(as.matrix(r)), cond_sd = unname(as.matrix(sds)))
  })
  names(ranefs) <- names(re)
  antab <- function(a) if (is.null(a)) NULL else list(terms = back(rownames(a)), F = num(a[["F value"]]),
        NumDF = num(a$NumDF), DenDF = num(a$DenDF), p = num(a[["Pr(>F)"]]))
  an <- function(...) tryCatch(as.data.frame(anova(ms, ...)), error = function(e) NULL)
  ciw <- confint(m, method = "Wald"); ciw <- ciw[rownames(ciw) %in% names(fixef(m)), , drop = FALSE]
  res <- list(
    name = cs$name, data = cs$data, r_formula = cs$r_formula, formula = cs$formula, reml = reml,
    rescaled = list(covariate = cov, K = K, r_formula = paste(deparse(f_s, width.cutoff = 500L), collapse = " "),
                    check = chk),
    lme4_version = as.character(packageVersion("lme4")), lmerTest_version = as.character(packageVersion("lmerTest")),
    nobs = nobs(m), ngrps = as.list(ngrps(m)),
    fixef = list(names = rownames(co), estimate = num(co[, 1]), se = num(co[, 2]), df = num(cs_s[, 3]),
                 t = num(cs_s[, 4]), p = num(cs_s[, 5])),
    vcov = unname(as.matrix(vcov(m))),
    varcorr = list(grp = as.character(vc$grp), var1 = as.character(vc$var1), var2 = as.character(vc$var2),
                   vcov = num(vc$vcov), sdcor = num(vc$sdcor)),
    sigma = sigma(m), theta = num(getME(m, "theta")),
    loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m), deviance = if (reml) NULL else deviance(m),
    reml_criterion = if (reml) REMLcrit(m) else NULL,
    is_singular = isSingular(m), ranef = ranefs,
    anova3 = antab(an(type = 3)), anova1 = antab(an(type = 1)), anova2 = antab(an(type = 2)),
    anova3_kr = antab(an(type = 3, ddf = "Kenward-Roger")),
    confint_wald = list(names = rownames(ciw), lower = num(ciw[, 1]), upper = num(ciw[, 2])))
  write(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
        file.path("expected_rescaled", paste0(cs$name, ".json")))
  cat(cs$name, "objective", opt$fval, "rescaled", chk$rescaled_objective, "shift", chk$objective_shift_expected,
      "max rel fixef", chk$max_rel_fixef, "se", chk$max_rel_se, "singular", isSingular(m), "\n")
}
