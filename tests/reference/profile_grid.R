# lme4's own profile grid (the points profile.merMod evaluates) and R's spline inversion, for testing
# mixedpy's reproduction of them (tests/test_profile_spline.py).
# usage: Rscript profile_grid.R CASES.json OUT_DIR DATA_DIR CASE_NAME ...
#   writes OUT_DIR/<case>.json: for every parameter, the grid (x, zeta) and lme4's 95 % bounds;
#   and OUT_DIR/backspline.json: splines::backSpline(interpSpline(...)) predictions on fixed points.
suppressMessages({library(lme4); library(jsonlite); library(splines)})
args <- commandArgs(TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE); out_dir <- args[2]; data_dir <- args[3]
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
for (name in args[-(1:3)]) {
  cs <- Filter(function(c) c$name == name, cases)[[1]]
  d <- read.csv(file.path(data_dir, paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  for (f in unlist(cs$factors)) d[[f]] <- factor(d[[f]])
  m <- lmer(as.formula(cs$r_formula), data = d, REML = isTRUE(cs$reml),
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  pr <- profile(m, signames = FALSE)
  ci <- confint(pr)
  pars <- levels(pr$.par)
  out <- lapply(pars, function(p) {
    b <- pr[pr$.par == p, c(p, ".zeta")]
    list(name = p, x = unname(b[[1]]), zeta = unname(b[[2]]),
         lower = unname(ci[p, 1]), upper = unname(ci[p, 2]))
  })
  write_json(list(name = name, formula = cs$formula, r_formula = cs$r_formula, data = cs$data,
                  reml = isTRUE(cs$reml), factors = cs$factors, profiles = out),
             file.path(out_dir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE)
}
# backSpline on fixed, bent monotone profiles (including one whose end piece is clamped straight)
sets <- list(
  list(x = c(-1, -0.5, 0, 0.3, 0.9, 2.5), z = c(-4, -2.2, -0.9, 0, 1.1, 3.9)),
  list(x = c(0, 0.4, 1, 1.3, 1.5, 1.6, 1.65), z = c(-3, -1.5, 0, 0.8, 1.9, 3, 4.5)),
  list(x = c(2, 3, 4, 5), z = c(-2.5, -0.5, 0.7, 3.5)))
at <- c(-2.2, -1.959964, -1, 0, 0.5, 1.959964, 2.4, 3.2)
bs <- lapply(sets, function(s) {
  b <- backSpline(interpSpline(s$x, s$z))
  list(x = s$x, z = s$z, at = at, pred = unname(predict(b, at)$y))
})
write_json(bs, file.path(out_dir, "backspline.json"), digits = NA, auto_unbox = TRUE, na = "null")
