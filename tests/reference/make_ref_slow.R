# Reference values from lme4 + lmerTest (+ pbkrtest) for mixedpy checks.
suppressMessages({library(lme4); library(lmerTest); library(nlme); library(jsonlite); library(pbkrtest)})
# usage: Rscript make_ref.R CASES.json OUT_DIR DATA_DIR (cases_coding.json goes to expected_coding)
args <- commandArgs(TRUE); cases_file <- args[1]; out_dir <- args[2]; data_dir <- args[3]
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
cases <- fromJSON(cases_file, simplifyVector = FALSE)
num <- function(x) unname(as.numeric(x))
# Python-side formula of the model without the dropped fixed term: the kept fixed terms (lme4's
# labels, I(x^2) written x^2 as in the cases' "formula") plus the random terms copied verbatim.
py_formula0 <- function(py_formula, labels, dropped, intercept) {
  lhs <- trimws(sub("~.*$", "", py_formula)); rhs <- sub("^[^~]*~", "", py_formula)
  rnd <- regmatches(rhs, gregexpr("\\((?:[^()]++|(?R))*\\)", rhs, perl = TRUE))[[1]]
  rnd <- rnd[grepl("|", rnd, fixed = TRUE)]
  keep <- gsub("I\\((\\w+)\\^(\\d+)\\)", "\\1^\\2", setdiff(labels, dropped))
  fixed <- if (length(keep)) paste(keep, collapse = " + ") else "1"
  if (!intercept) fixed <- paste("0 +", fixed)
  paste(lhs, "~", paste(c(fixed, rnd), collapse = " + "))
}
for (cs in cases) {
  d <- read.csv(file.path(data_dir, paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  for (f in unlist(cs$factors)) d[[f]] <- factor(d[[f]])
  # Optional case fields (cases_coding.json): "ordered" factors get R's default contr.poly coding,
  # "contrasts" sets options(contrasts = ...) for the unordered / ordered factors of this case.
  for (f in unlist(cs$ordered)) d[[f]] <- factor(d[[f]], ordered = TRUE)
  old_options <- options(contrasts = if (is.null(cs$contrasts)) getOption("contrasts") else unlist(cs$contrasts))
  reml <- isTRUE(cs$reml)
  ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
  t0 <- proc.time()[["elapsed"]]
  fitmsg <- character(0)
  m <- withCallingHandlers(lmerTest::lmer(as.formula(cs$r_formula), data = d, REML = reml, control = ctrl),
    warning = function(wn) { fitmsg <<- c(fitmsg, paste("W:", conditionMessage(wn))); invokeRestart("muffleWarning") },
    message = function(mm) { fitmsg <<- c(fitmsg, paste("M:", conditionMessage(mm))); invokeRestart("muffleMessage") })
  el <- proc.time()[["elapsed"]] - t0
  sm <- summary(m)
  co <- sm$coefficients
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
  an3 <- tryCatch(as.data.frame(anova(m, type = 3)), error = function(e) NULL)
  an1 <- tryCatch(as.data.frame(anova(m, type = 1)), error = function(e) NULL)
  ankr <- if (isTRUE(cs$skip_slow)) NULL else tryCatch(as.data.frame(anova(m, type = 3, ddf = "Kenward-Roger")), error = function(e) NULL)
  antab <- function(a) if (is.null(a)) NULL else list(terms = rownames(a), F = num(a[["F value"]]),
        NumDF = num(a$NumDF), DenDF = num(a$DenDF), p = num(a[["Pr(>F)"]]))
  res <- list(
    name = cs$name, data = cs$data, r_formula = cs$r_formula, formula = cs$formula, reml = reml,
    lme4_version = as.character(packageVersion("lme4")), lmerTest_version = as.character(packageVersion("lmerTest")),
    seconds = el, nobs = nobs(m), ngrps = as.list(ngrps(m)),
    fixef = list(names = rownames(co), estimate = num(co[, 1]), se = num(co[, 2]), df = num(co[, 3]),
                 t = num(co[, 4]), p = num(co[, 5])),
    vcov = unname(as.matrix(vcov(m))),
    varcorr = list(grp = as.character(vc$grp), var1 = as.character(vc$var1), var2 = as.character(vc$var2),
                   vcov = num(vc$vcov), sdcor = num(vc$sdcor)),
    sigma = sigma(m), theta = num(getME(m, "theta")),
    loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m), deviance = if (reml) NULL else deviance(m),
    reml_criterion = if (reml) REMLcrit(m) else NULL,
    is_singular = isSingular(m), ranef = ranefs,
    anova3 = antab(an3), anova1 = antab(an1), anova3_kr = antab(ankr))
  # Added fields (computed after the ones above, which they leave unchanged).
  an2 <- tryCatch(as.data.frame(anova(m, type = 2)), error = function(e) NULL)
  cilist <- function(ci) list(names = rownames(ci), lower = num(ci[, 1]), upper = num(ci[, 2]))
  ciw <- confint(m, method = "Wald")
  ciw <- ciw[rownames(ciw) %in% names(fixef(m)), , drop = FALSE]  # variance rows are NA with Wald
  t1 <- proc.time()[["elapsed"]]
  cip <- if (isTRUE(cs$skip_slow) || isTRUE(cs$skip_profile)) NULL else {  # too slow there
    w <- character(0)
    out <- tryCatch(withCallingHandlers(
      cilist(confint(m, method = "profile", oldNames = FALSE)),
      warning = function(wn) { w <<- c(w, conditionMessage(wn)); invokeRestart("muffleWarning") }),
      error = function(e) { cat(cs$name, "profile error:", conditionMessage(e), "\n"); NULL })
    if (length(w)) cat(cs$name, "profile warnings:", paste(unique(w), collapse = " | "), "\n")
    if (is.null(out)) NULL else c(out, list(warnings = unique(w)))
  }
  t2 <- proc.time()[["elapsed"]]
  labs <- attr(terms(m), "term.labels")  # fixed part only
  lrt <- if (length(labs) == 0) NULL else tryCatch({
    dropped <- labs[length(labs)]
    m0 <- update(m, as.formula(paste(". ~ . -", dropped)))
    a <- as.data.frame(anova(m0, m))  # lme4 refits REML fits with ML
    list(dropped = dropped, formula0 = py_formula0(cs$formula, labs, dropped, attr(terms(m), "intercept") == 1),
         r_formula0 = paste(deparse(formula(m0), width.cutoff = 500L), collapse = " "),
         chisq = a["m", "Chisq"], df = a["m", "Df"], p = a["m", "Pr(>Chisq)"],
         loglik0 = a["m0", "logLik"], loglik1 = a["m", "logLik"], aic0 = a["m0", "AIC"], aic1 = a["m", "AIC"])
  }, error = function(e) { cat(cs$name, "lrt error:", conditionMessage(e), "\n"); NULL })
  t3 <- proc.time()[["elapsed"]]
  res <- c(res, list(fit_messages = fitmsg, optinfo_conv = m@optinfo$conv$lme4$messages, anova2 = antab(an2), confint_wald = cilist(ciw), confint_profile = cip, lrt_drop = lrt))
  if (!is.null(cs$contrasts) || !is.null(cs$ordered))  # the codings used, for the record
    res <- c(res, list(contrasts = getOption("contrasts"), ordered = cs$ordered))
  options(old_options)
  write(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
        file.path(out_dir, paste0(cs$name, ".json")))
  cat(cs$name, "done", el, "profile", t2 - t1, "lrt", t3 - t2, "\n")
}
