# Exact profile-likelihood bounds of the variance parameters, computed in R without lme4's grid
# and spline: for a value x of one parameter, the ML deviance (lme4's own devfun2, on the sd/cor/sigma
# scale of confint(m, method = "profile", oldNames = FALSE)) is minimized over all the other
# parameters from several starts (the MLE and lme4's two nearest profile points; bobyqa, then
# Nelder-Mead, then bobyqa), and zeta(x) = sign(x - x_hat) sqrt(dev(x) - dev_hat) = -/+ qnorm(0.975)
# is solved with uniroot.  Also records zeta at lme4's confint bounds, to show how far those are
# from the cutoff.
# usage: Rscript profile_exact.R CASES.json CASE_NAME OUT_DIR DATA_DIR
suppressMessages({library(lme4); library(minqa); library(jsonlite)})
args <- commandArgs(TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE); name <- args[2]; out_dir <- args[3]; data_dir <- args[4]
cs <- Filter(function(c) c$name == name, cases)[[1]]
d <- read.csv(file.path(data_dir, paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
for (f in unlist(cs$factors)) d[[f]] <- factor(d[[f]])
m <- lmer(as.formula(cs$r_formula), data = d, REML = isTRUE(cs$reml),
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
pr <- suppressWarnings(profile(m, which = "theta_", signames = FALSE))
ci <- confint(pr)
dd <- lme4:::devfun2(m, useSc = TRUE, signames = FALSE)
opt <- attr(dd, "optimum"); opt <- opt[seq_len(length(opt) - length(fixef(m)))]
base <- attr(dd, "basedev"); np <- length(opt)
is_cor <- startsWith(names(opt), "cor_")
lo <- ifelse(is_cor, -1, 0); hi <- ifelse(is_cor, 1, Inf)
z <- qnorm(0.975)

exact_zeta <- function(idx, x, warm = NULL) {
  f <- function(u) { p <- numeric(np); p[-idx] <- u; p[idx] <- x
    v <- tryCatch(dd(p), error = function(e) 1e10); if (is.finite(v)) v else 1e10 }
  s <- pr[pr$.par == names(opt)[idx], names(opt)]
  near <- order(abs(s[[idx]] - x))[1:2]
  starts <- c(list(unname(opt)), lapply(near, function(i) unname(unlist(s[i, ]))), if (!is.null(warm)) list(warm))
  l <- lo[-idx] + 1e-8; h <- pmin(hi[-idx] - 1e-8, 1e6)
  best <- list(val = Inf)
  for (st in starts) {
    u <- pmin(pmax(st[-idx], l + 1e-6), h - 1e-6)
    r <- bobyqa(u, f, lower = l, upper = h, control = list(maxfun = 1e5, rhobeg = 0.05, rhoend = 1e-10))
    r <- optim(r$par, f, method = "Nelder-Mead", control = list(maxit = 2e4, reltol = 1e-14))
    r <- bobyqa(pmin(pmax(r$par, l), h), f, lower = l, upper = h,
                control = list(maxfun = 1e5, rhobeg = 0.01, rhoend = 1e-12))
    if (r$fval < best$val) best <- list(val = r$fval, par = r$par)
  }
  p <- numeric(np); p[-idx] <- best$par; p[idx] <- x
  list(zeta = sign(x - opt[[idx]]) * sqrt(max(best$val - base, 0)), par = p)
}

exact_bound <- function(idx, start, target) {
  dir <- sign(target); step <- 0.01 * max(1, abs(opt[[idx]]))
  a <- start; za <- exact_zeta(idx, a)$zeta
  b <- a; zb <- za
  for (k in 1:50) {  # bracket the root, moving from lme4's bound towards the side it lies on
    move <- if (abs(zb) > z) -dir else dir
    b <- min(max(a + move * step * k, lo[idx]), hi[idx])
    zb <- exact_zeta(idx, b)$zeta
    if ((za - target) * (zb - target) <= 0) break
  }
  uniroot(function(x) exact_zeta(idx, x)$zeta - target, sort(c(a, b)), tol = 1e-7)$root
}

res <- list(name = name, lme4_version = as.character(packageVersion("lme4")), cutoff = z,
            names = names(opt), lme4_lower = unname(ci[names(opt), 1]), lme4_upper = unname(ci[names(opt), 2]),
            zeta_at_lme4_lower = NULL, zeta_at_lme4_upper = NULL, lower = NULL, upper = NULL)
for (i in seq_len(np)) {
  res$zeta_at_lme4_lower[i] <- exact_zeta(i, ci[names(opt)[i], 1])$zeta
  res$zeta_at_lme4_upper[i] <- exact_zeta(i, ci[names(opt)[i], 2])$zeta
  res$lower[i] <- exact_bound(i, ci[names(opt)[i], 1], -z)
  res$upper[i] <- exact_bound(i, ci[names(opt)[i], 2], z)
  cat(names(opt)[i], res$lower[i], res$upper[i], "| lme4", ci[names(opt)[i], ], "| zeta there",
      res$zeta_at_lme4_lower[i], res$zeta_at_lme4_upper[i], "\n")
}
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
write(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out_dir, paste0(name, ".json")))
