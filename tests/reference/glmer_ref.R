# Reference values for mixedpy's generalized linear mixed models (GLMMs), from lme4::glmer
# (cross-checked with glmmTMB for the Laplace fits).
#
# usage (from the repository root):  Rscript tests/reference/glmer_ref.R [case ...]
#
# 1. writes the data sets used as CSV files into mixedpy/datasets/ (cbpp, grouseticks, VerbAgg,
#    epil, Contraception, guImmun; binary responses as 0/1 integers);
# 2. reads each CSV back (so R fits exactly the numbers that mixedpy reads), sets the factors as
#    mixedpy.datasets.load does, and fits every case with
#        glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
#    glmer's default inner (PIRLS) tolerance stops short: its -2 logLik is up to ~3e-3 too high, so
#    the default-control fit is recorded separately under "default_tol";
# 3. writes one JSON file per case into tests/reference/expected_glmer/<case>.json.
# With arguments, only the named cases are (re)computed.
suppressMessages({
  library(lme4); library(glmmTMB); library(emmeans); library(jsonlite); library(MASS); library(mlmRev)
})
args <- commandArgs(TRUE)
ds_dir <- "mixedpy/datasets"
out_dir <- "tests/reference/expected_glmer"
if (!dir.exists(ds_dir)) stop("run from the repository root: Rscript tests/reference/glmer_ref.R")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) unname(as.numeric(x))
nv <- function(x) as.list(setNames(as.numeric(x), names(x)))          # named vector -> JSON object
mat <- function(M) { M <- as.matrix(M); list(rownames = rownames(M), colnames = colnames(M), values = unname(M)) }
# data frame -> list of columns; factors as strings, an all-infinite column (emmeans' df) as "Inf"
cols <- function(df) lapply(as.list(df), function(v) {
  if (is.factor(v)) as.character(v) else if (is.numeric(v) && all(is.infinite(v))) as.character(v) else v
})
yn01 <- function(f) as.integer(f == "Y")

# ---------------------------------------------------------------------------------------------
# 1. data sets
# ---------------------------------------------------------------------------------------------
write_ds <- function(df, file) write.csv(df, file.path(ds_dir, file), row.names = FALSE)

cb <- lme4::cbpp
write_ds(data.frame(herd = cb$herd, incidence = cb$incidence, size = cb$size, period = cb$period,
                    prop = cb$incidence / cb$size), "cbpp.csv")
gt <- lme4::grouseticks
write_ds(gt[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")], "grouseticks.csv")
va <- lme4::VerbAgg
write_ds(data.frame(id = va$id, item = va$item, Anger = va$Anger, Gender = va$Gender, btype = va$btype,
                    situ = va$situ, r2 = yn01(va$r2)), "VerbAgg.csv")
# epil: MASS's seizure counts (Thall & Vail 1990) in the layout of Venables & Ripley (2002, sec. 10.4):
# the 8-week baseline count as period 0 (exposure 4 two-week periods) plus the 4 two-week visits.
ep <- MASS::epil
ep0 <- ep[ep$period == 1, ]; ep0$period <- 0L; ep0$y <- ep0$base
ep2 <- rbind(ep0, ep)
ep2 <- ep2[order(ep2$subject, ep2$period), ]
write_ds(data.frame(subject = ep2$subject, period = ep2$period, y = ep2$y, trt = ep2$trt,
                    age = ep2$age, post = as.integer(ep2$period > 0),
                    exposure = ifelse(ep2$period == 0, 4L, 1L)), "epil.csv")
ct <- mlmRev::Contraception
write_ds(data.frame(woman = ct$woman, district = ct$district, use = yn01(ct$use), livch = ct$livch,
                    age = ct$age, urban = ct$urban), "Contraception.csv")
gi <- mlmRev::guImmun
gi_out <- data.frame(kid = gi$kid, mom = gi$mom, comm = gi$comm, immun = yn01(gi$immun))
for (v in c("kid2p", "mom25p", "ord", "ethn", "momEd", "husEd", "momWork", "rural", "pcInd81")) gi_out[[v]] <- gi[[v]]
write_ds(gi_out, "guImmun.csv")

# factor columns and levels as in mixedpy/datasets/__init__.py (NULL: R's factor() order, sorted values)
ds_factors <- list(
  cbpp = list(herd = NULL, period = NULL),
  grouseticks = list(INDEX = NULL, BROOD = NULL, YEAR = NULL, LOCATION = NULL),
  VerbAgg = list(id = NULL, item = levels(va$item), Gender = NULL, btype = NULL, situ = NULL),
  epil = list(subject = NULL, trt = NULL),
  Contraception = list(woman = NULL, district = NULL, livch = NULL, urban = NULL),
  guImmun = list(kid = NULL, mom = NULL, comm = NULL, kid2p = NULL, mom25p = NULL, ord = NULL, ethn = NULL,
                 momEd = NULL, husEd = NULL, momWork = NULL, rural = NULL)
)
load_ds <- function(name) {
  d <- read.csv(file.path(ds_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  fl <- ds_factors[[name]]
  for (f in names(fl)) d[[f]] <- if (is.null(fl[[f]])) factor(d[[f]]) else factor(d[[f]], levels = fl[[f]])
  d
}

# ---------------------------------------------------------------------------------------------
# 2. cases
# ---------------------------------------------------------------------------------------------
# formula: mixedpy's formula (the same text as R's unless r_formula is given)
cases <- list(
  cbpp_logit = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                    family = "binomial", link = "logit", nAGQ = 1, extras = TRUE,
                    tests = "Laplace, binomial counts as cbind(successes, failures); profile/Wald CIs, LRT, emmeans"),
  cbpp_logit_agq0 = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         family = "binomial", link = "logit", nAGQ = 0,
                         tests = "nAGQ = 0: fixed effects estimated inside PIRLS, theta alone optimized"),
  cbpp_logit_agq25 = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                          family = "binomial", link = "logit", nAGQ = 25,
                          tests = "adaptive Gauss-Hermite quadrature with 25 nodes (single scalar random effect)"),
  cbpp_prop = list(data = "cbpp", formula = "prop ~ period + (1 | herd)", weights = "size",
                   family = "binomial", link = "logit", nAGQ = 1,
                   tests = "binomial proportions with prior weights = number of trials (same fit as cbpp_logit)"),
  cbpp_probit = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     family = "binomial", link = "probit", nAGQ = 1, tests = "probit link, cbind response"),
  cbpp_cloglog = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                      family = "binomial", link = "cloglog", nAGQ = 1, tests = "cloglog link, cbind response"),
  grouseticks = list(data = "grouseticks",
                     formula = "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                     family = "poisson", link = "log", nAGQ = 1,
                     tests = "Poisson, three nested-by-data scalar terms incl. an observation-level effect; scale()"),
  verbagg = list(data = "VerbAgg", formula = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                 family = "binomial", link = "logit", nAGQ = 1,
                 tests = "Bernoulli 0/1 response, crossed random effects, 7584 rows"),
  epil_offset = list(data = "epil", formula = "y ~ post * trt + offset(log(exposure)) + (1 | subject)",
                     offset = "log(exposure)", family = "poisson", link = "log", nAGQ = 1,
                     tests = "Poisson with an offset varying within subject (59 subjects), interaction"),
  contra_slope = list(data = "Contraception", formula = "use ~ age + urban + livch + (1 + urban | district)",
                      family = "binomial", link = "logit", nAGQ = 1,
                      tests = "Bernoulli, correlated random intercept and (factor) slope per district (60)"),
  guimmun_nested = list(data = "guImmun",
                        formula = "immun ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork + rural + pcInd81 + (1 | comm/mom)",
                        family = "binomial", link = "logit", nAGQ = 1,
                        tests = "Bernoulli, nested random effects (1 | comm/mom): 161 communities, 1595 mothers"),
  contra_probit = list(data = "Contraception", formula = "use ~ age + urban + livch + (1 | district)",
                       family = "binomial", link = "probit", nAGQ = 1,
                       tests = "Bernoulli 0/1 response with the probit link")
)
if (length(args)) cases <- cases[args]

tight <- glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
deflt <- glmerControl()

capture_fit <- function(expr) {
  msgs <- character(0)
  t0 <- proc.time()[["elapsed"]]
  val <- withCallingHandlers(expr,
    warning = function(w) { msgs <<- c(msgs, paste("W:", conditionMessage(w))); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, paste("M:", conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = val, messages = msgs, seconds = proc.time()[["elapsed"]] - t0)
}
safe <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))

varcorr_list <- function(m) {
  vc <- VarCorr(m)
  lapply(names(vc), function(g) {
    v <- vc[[g]]
    list(group = g, names = colnames(v), sd = nv(attr(v, "stddev")), var = nv(diag(as.matrix(v))),
         corr = if (ncol(v) > 1) mat(attr(v, "correlation")) else NULL)
  })
}

summary_block <- function(m) {
  sm <- summary(m)
  co <- coef(sm)
  list(coef_names = rownames(co), estimate = num(co[, 1]), se = num(co[, 2]),
       z = num(co[, 3]), p = num(co[, 4]),
       AICtab = nv(sm$AICtab))
}

fit_glmer <- function(cs, d, control) {
  fam <- if (cs$family == "binomial") binomial(link = cs$link) else poisson(link = cs$link)
  r_formula <- if (is.null(cs$r_formula)) cs$formula else cs$r_formula
  cl <- call("glmer", as.formula(r_formula), data = quote(d), family = fam, nAGQ = cs$nAGQ,
             control = control)
  if (!is.null(cs$weights)) cl$weights <- as.name(cs$weights)
  eval(cl)
}

fit_tmb <- function(cs, d) {
  fam <- if (cs$family == "binomial") binomial(link = cs$link) else poisson(link = cs$link)
  r_formula <- if (is.null(cs$r_formula)) cs$formula else cs$r_formula
  cl <- call("glmmTMB", as.formula(r_formula), data = quote(d), family = fam)
  if (!is.null(cs$weights)) cl$weights <- as.name(cs$weights)
  eval(cl)
}

# The Laplace approximation recomputed from scratch at glmer's estimates (theta, beta): the mode of
# the random effects by Newton's method, then -2 log f(y | u) + |u|^2 + log det H, with H the
# observed information (exactly Laplace; what glmmTMB uses) or the expected (Fisher) information
# (lme4's PIRLS weights). For canonical links (logit, log) the two coincide.
mu2 <- function(link, eta, mu, dmu) switch(link,          # second derivative of the inverse link
  logit = dmu * (1 - 2 * mu), probit = -eta * dmu, cloglog = dmu * (1 - exp(eta)), log = mu,
  stop("link ", link))
laplace_check <- function(m) {
  fam <- family(m); y <- getME(m, "y"); X <- getME(m, "X")
  ZL <- getME(m, "Z") %*% getME(m, "Lambda"); q <- ncol(ZL)
  wt <- weights(m, type = "prior"); off <- getME(m, "offset"); b <- fixef(m)
  ll <- function(mu) if (fam$family == "poisson") sum(wt * dpois(y, mu, log = TRUE)) else
    sum(dbinom(round(wt * y), round(wt), mu, log = TRUE))
  info <- function(eta) {                 # score and -d2/deta2 of the log-likelihood, Fisher weights
    mu <- fam$linkinv(eta); dmu <- fam$mu.eta(eta); v <- fam$variance(mu)
    s <- wt * (y - mu) / v * dmu
    fisher <- wt * dmu^2 / v
    dv <- if (fam$family == "poisson") 1 else 1 - 2 * mu
    obs <- fisher - wt * (y - mu) * (mu2(fam$link, eta, mu, dmu) * v - dmu^2 * dv) / v^2
    list(s = s, obs = obs, fisher = fisher)
  }
  u <- as.numeric(getME(m, "u"))
  for (it in 1:200) {
    eta <- as.numeric(off + X %*% b + ZL %*% u); k <- info(eta)
    g <- as.numeric(crossprod(ZL, k$s)) - u
    H <- forceSymmetric(crossprod(ZL, Diagonal(x = k$obs) %*% ZL) + Diagonal(q))
    du <- as.numeric(solve(H, g)); u <- u + du
    if (max(abs(du)) < 1e-14) break
  }
  eta <- as.numeric(off + X %*% b + ZL %*% u); k <- info(eta)
  ldet <- function(w) { H <- forceSymmetric(crossprod(ZL, Diagonal(x = w) %*% ZL) + Diagonal(q))
    2 * as.numeric(determinant(Cholesky(H, LDL = FALSE, super = FALSE), sqrt = TRUE)$modulus) }
  base <- -2 * ll(fam$linkinv(eta)) + sum(u^2)
  list(observed_info = base + ldet(k$obs), fisher_info = base + ldet(k$fisher),
       newton_iterations = it, max_abs_u_diff_from_glmer = max(abs(u - getME(m, "u"))),
       note = paste("Laplace -2 logLik recomputed at glmer's estimates: observed information (true Laplace,",
                    "as glmmTMB) and expected (Fisher) information in log det H (lme4's choice for",
                    "non-canonical links). glmer's own value uses the Cholesky factor L of the last PIRLS",
                    "iteration, whose weights may lag the final mode slightly."))
}
# nAGQ > 1: glmer's deviance omits the saturated log-likelihood; exact marginal -2 logLik by numerical
# integration (one scalar random effect) at glmer's estimates, for comparison
agq_check <- function(m, d) {
  y <- getME(m, "y"); wt <- weights(m, type = "prior")
  sat <- -2 * sum(dbinom(round(wt * y), round(wt), y, log = TRUE))
  g <- getME(m, "flist")[[1]]; s <- getME(m, "theta")[[1]]
  eta0 <- as.numeric(getME(m, "X") %*% fixef(m) + getME(m, "offset")); fam <- family(m)
  tot <- 0
  for (lv in levels(g)) {
    i <- which(g == lv)
    f <- function(b) sapply(b, function(bb) exp(sum(dbinom(round(wt[i] * y[i]), round(wt[i]),
                                                          fam$linkinv(eta0[i] + s * bb), log = TRUE))) * dnorm(bb))
    tot <- tot + log(integrate(f, -Inf, Inf, rel.tol = 1e-12)$value)
  }
  list(minus2logLik_reported = -2 * as.numeric(logLik(m)), saturated_minus2logLik = sat,
       reported_plus_saturated = -2 * as.numeric(logLik(m)) + sat,
       exact_integral_minus2logLik = -2 * tot,
       note = paste("for nAGQ > 1 glmer's logLik/deviance/AIC/BIC leave out the saturated model's",
                    "log-likelihood (binomial constants included): add saturated_minus2logLik to compare",
                    "with nAGQ = 1 or with an exact integral (stats::integrate at glmer's estimates)"))
}

core <- function(m) {
  list(fixef = nv(fixef(m)), theta = nv(getME(m, "theta")),
       minus2logLik = -2 * as.numeric(logLik(m)), logLik = as.numeric(logLik(m)),
       varcorr = varcorr_list(m), optinfo = list(conv = m@optinfo$conv$opt, feval = m@optinfo$feval,
                                                 lme4_messages = unlist(m@optinfo$conv$lme4$messages)))
}

run_case <- function(name, cs) {
  cat(sprintf("%s ...\n", name))
  d <- load_ds(cs$data)
  f <- capture_fit(fit_glmer(cs, d, tight))
  m <- f$value
  out <- list(
    name = name, formula = cs$formula, r_formula = if (is.null(cs$r_formula)) cs$formula else cs$r_formula,
    family = cs$family, link = cs$link, nAGQ = cs$nAGQ,
    data = cs$data, csv = file.path(ds_dir, paste0(cs$data, ".csv")),
    factors = lapply(ds_factors[[cs$data]], function(l) l), factor_levels = lapply(
      setNames(names(ds_factors[[cs$data]]), names(ds_factors[[cs$data]])), function(v) levels(d[[v]])),
    weights = cs$weights, offset = cs$offset, nobs = nobs(m), tests = cs$tests,
    control = "glmerControl(tolPwrss = 1e-12, optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5))",
    versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                    glmmTMB = as.character(packageVersion("glmmTMB")),
                    emmeans = as.character(packageVersion("emmeans"))),
    fit_messages = f$messages, seconds = f$seconds
  )
  out <- c(out, core(m))
  out$AIC <- AIC(m); out$BIC <- BIC(m); out$df_resid <- df.residual(m)
  out$deviance_fn <- deviance(m)   # lme4's deviance() of a GLMM: sum of squared deviance residuals
  out$npar <- attr(logLik(m), "df")
  out$summary <- summary_block(m)
  vh <- safe(vcov(m, use.hessian = TRUE))
  out$vcov_hessian <- if (is.list(vh) && !is.null(vh$error)) vh else mat(vh)
  out["se_hessian"] <- list(if (is.list(vh) && !is.null(vh$error)) NULL else nv(sqrt(diag(as.matrix(vh)))))
  vr <- suppressWarnings(vcov(m, use.hessian = FALSE))
  out$vcov_rx <- mat(vr)
  out$se_rx <- nv(sqrt(diag(as.matrix(vr))))
  out$summary_se_source <- if (is.list(vh) && !is.null(vh$error)) "RX (no Hessian)" else
    if (isTRUE(all.equal(out$summary$se, num(out$se_hessian), tolerance = 1e-12))) "hessian" else "rx"
  out["hessian"] <- list(if (!is.null(m@optinfo$derivs$Hessian)) unname(m@optinfo$derivs$Hessian) else NULL)
  out["gradient"] <- list(if (!is.null(m@optinfo$derivs$gradient)) num(m@optinfo$derivs$gradient) else NULL)
  # conditional modes and their conditional SDs
  re <- ranef(m, condVar = TRUE)
  red <- as.data.frame(re)
  out$ranef <- list(grpvar = as.character(red$grpvar), term = as.character(red$term),
                    grp = as.character(red$grp), condval = red$condval, condsd = red$condsd)
  out$ranef_condvar <- lapply(setNames(names(re), names(re)), function(g) {
    pv <- attr(re[[g]], "postVar")
    if (is.null(pv) || dim(pv)[1] == 1) return(NULL)
    list(columns = colnames(re[[g]]), levels = rownames(re[[g]]),
         cov = lapply(seq_len(dim(pv)[3]), function(k) unname(pv[, , k])))
  })
  out$ranef_condvar <- Filter(Negate(is.null), out$ranef_condvar)
  out$fitted <- list(rows = 1:10, link = num(predict(m, type = "link")[1:10]),
                     response = num(fitted(m)[1:10]))
  nd <- d[1:5, ]
  out$predict_newdata <- list(rows = 1:5,
    link_fixed = num(predict(m, newdata = nd, type = "link", re.form = NA)),
    response_fixed = num(predict(m, newdata = nd, type = "response", re.form = NA)),
    link_full = num(predict(m, newdata = nd, type = "link")),
    response_full = num(predict(m, newdata = nd, type = "response")))

  out["laplace_check"] <- list(if (cs$nAGQ <= 1) laplace_check(m) else NULL)
  out["agq_check"] <- list(if (cs$nAGQ > 1) agq_check(m, d) else NULL)
  # default control
  fd <- capture_fit(fit_glmer(cs, d, deflt))
  out$default_tol <- c(list(control = "glmerControl() (lme4's defaults)", fit_messages = fd$messages,
                            seconds = fd$seconds),
                       core(fd$value), list(summary = summary_block(fd$value)))

  # glmmTMB (Laplace only)
  if (cs$nAGQ == 1) {
    ft <- capture_fit(fit_tmb(cs, d))
    tm <- ft$value
    vct <- VarCorr(tm)$cond
    out$glmmTMB <- list(minus2logLik = -2 * as.numeric(logLik(tm)), fixef = nv(fixef(tm)$cond),
                        se = nv(sqrt(diag(vcov(tm)$cond))),
                        varcorr = lapply(names(vct), function(g) {
                          v <- vct[[g]]
                          list(group = g, names = colnames(v), sd = nv(attr(v, "stddev")),
                               corr = if (ncol(v) > 1) mat(attr(v, "correlation")) else NULL)
                        }),
                        convergence = tm$fit$convergence, pdHess = tm$sdr$pdHess,
                        fit_messages = ft$messages, seconds = ft$seconds)
    out$glmmTMB_minus_glmer <- out$glmmTMB$minus2logLik - out$minus2logLik
  } else {
    out["glmmTMB"] <- list(NULL)
  }

  if (isTRUE(cs$extras)) {
    ci <- confint(m, method = "profile", oldNames = FALSE)
    out$confint_profile <- mat(ci)
    cw <- confint(m, method = "Wald", oldNames = FALSE)
    out$confint_wald <- mat(cw[!is.na(cw[, 1]), , drop = FALSE])
    out$confint_wald_note <- "Wald intervals from vcov(m) (the Hessian-based one): estimate +- qnorm(0.975) * SE"
    m0 <- update(m, . ~ 1 + (1 | herd))
    a <- anova(m0, m)
    out$lrt <- list(null_formula = "cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
                    null_minus2logLik = -2 * as.numeric(logLik(m0)),
                    table = c(list(model = rownames(a)), cols(as.data.frame(a))),
                    Chisq = a$Chisq[2], Df = a$Df[2], p = a[["Pr(>Chisq)"]][2])
    em <- emmeans(m, "period")
    out$emmeans_link <- cols(as.data.frame(summary(em)))
    out$emmeans_response <- cols(as.data.frame(summary(em, type = "response")))
    out$emmeans_pairs <- cols(as.data.frame(summary(pairs(em))))
    out$emmeans_note <- paste("emmeans uses vcov(m), i.e. the Hessian-based covariance;",
                              "pairs(): Tukey adjustment (emmeans' default for pairwise contrasts)")
  }
  jsonlite::write_json(out, file.path(out_dir, paste0(name, ".json")), auto_unbox = TRUE, digits = NA,
                       pretty = TRUE, null = "null", na = "null")
  cat(sprintf("  -2logLik tight %.7f  default %.7f  glmmTMB %s  exact Laplace obs/Fisher %s  (%.1f s)\n", out$minus2logLik,
              out$default_tol$minus2logLik,
              if (is.null(out$glmmTMB)) "-" else sprintf("%.7f", out$glmmTMB$minus2logLik),
              if (is.null(out$laplace_check)) "-" else sprintf("%.7f / %.7f", out$laplace_check$observed_info,
                                                               out$laplace_check$fisher_info), f$seconds))
  invisible(out)
}

for (nm in names(cases)) run_case(nm, cases[[nm]])
