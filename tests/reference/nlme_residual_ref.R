# nlme references for residual covariance structures (issue #14): gls and lme with varIdent,
# corAR1, corCAR1, corSymm (+ varIdent = us), corCompSymm, corExp, and lme + a residual correlation.
# usage (from tests/reference): Rscript nlme_residual_ref.R
# Writes the data it fits to data/nlme_*.csv (full precision) and one JSON per case to expected_nlme/.
#
# Mapping nlme -> mixedpy (SAS names):
#   varIdent(form = ~1 | g)                         het(g)
#   corAR1(form = ~1 | s)                           ar1(occ | s)   occ = position within s (nlme uses order)
#   corAR1 + varIdent(form = ~1 | occ)              ar1h(occ | s)
#   corCAR1(form = ~t | s)                          sp_exp(t | s)  range = -1 / log(Phi)
#   corSymm(form = ~1 | s) + varIdent(~1 | occ)     us(occ | s)
#   corCompSymm(form = ~1 | s)                      cs(occ | s)
#   corExp(form = ~x + y | b)                       sp_exp(x, y | b)  (no nugget)
#   random = ~ a | s  (pdSymm), pdDiag(~ a)         (a | s), (1 | s) + (0 + a | s)
# nlme's REML logLik = -1/2 lme4's REML criterion (checked below on Orthodont).
suppressMessages({library(nlme); library(lme4); library(jsonlite); library(emmeans)})
num <- function(x) unname(as.numeric(x))
dir.create("expected_nlme", showWarnings = FALSE)
gctl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12, opt = "nlminb")
lctl <- lmeControl(maxIter = 500, msMaxIter = 500, msMaxEval = 5000, niterEM = 50, tolerance = 1e-10, msTol = 1e-12,
                   opt = "nlminb", returnObject = TRUE)

# --- data (written once, read back so that R and Python fit the same numbers) ---------------------
occ <- function(s) ave(seq_along(s), s, FUN = seq_along)
o <- as.data.frame(Orthodont); o$Subject <- as.character(o$Subject); o$Sex <- as.character(o$Sex)
o$occ <- occ(o$Subject)
ov <- as.data.frame(Ovary); ov$Mare <- as.character(ov$Mare)
ov$s1 <- sin(2 * pi * ov$Time); ov$c1 <- cos(2 * pi * ov$Time); ov$occ <- occ(ov$Mare)
bw <- as.data.frame(BodyWeight); bw$Rat <- as.character(bw$Rat); bw$Diet <- as.character(bw$Diet)
dz <- as.data.frame(Dialyzer); dz$Subject <- as.character(dz$Subject); dz$QB <- as.character(dz$QB)
dz$p2 <- dz$pressure^2
ox <- as.data.frame(Oxboys); ox$Subject <- as.character(ox$Subject); ox$Occasion <- as.integer(ox$Occasion)
ox$age2 <- ox$age^2
px <- as.data.frame(Pixel); px$Dog <- as.character(px$Dog); px$Side <- as.character(px$Side)
px$day2 <- px$day^2
wh <- as.data.frame(Wheat2); wh$Block <- as.character(wh$Block); wh$variety <- as.character(wh$variety)
for (nm in c("o", "ov", "bw", "dz", "ox", "px", "wh")) {
  d <- get(nm); attr(d, "formula") <- NULL
  write.csv(d[, !vapply(d, is.list, TRUE)], sprintf("data/nlme_%s.csv", nm), row.names = FALSE)
}
rd <- function(nm, factors) {
  d <- read.csv(sprintf("data/nlme_%s.csv", nm), stringsAsFactors = FALSE)
  for (f in factors) d[[f]] <- factor(d[[f]])
  d
}
o <- rd("o", c("Subject", "Sex")); ov <- rd("ov", "Mare"); bw <- rd("bw", c("Rat", "Diet"))
dz <- rd("dz", c("Subject", "QB")); ox <- rd("ox", "Subject"); px <- rd("px", c("Dog", "Side"))
wh <- rd("wh", c("Block", "variety"))
o$occf <- factor(o$occ); ox$Occf <- factor(ox$Occasion)

# nlme's REML constant = lme4's
a <- lme(distance ~ age + Sex, random = ~1 | Subject, data = o, method = "REML")
b <- lmer(distance ~ age + Sex + (1 | Subject), data = o, REML = TRUE)
stopifnot(abs(-2 * logLik(a) - REMLcrit(b)) < 1e-6)

# --- cases ---------------------------------------------------------------------------------------
# name, data, mixedpy formula, residual SPEC, nlme call
cases <- list(
  list("orth_gls_cs", "o", "distance ~ age + Sex", "cs(occ | Subject)",
       quote(gls(distance ~ age + Sex, o, correlation = corCompSymm(form = ~1 | Subject), control = gctl))),
  list("orth_gls_ar1", "o", "distance ~ age * Sex", "ar1(occ | Subject)",
       quote(gls(distance ~ age * Sex, o, correlation = corAR1(form = ~1 | Subject), control = gctl))),
  list("orth_gls_ar1h", "o", "distance ~ age + Sex", "ar1h(occ | Subject)",
       quote(gls(distance ~ age + Sex, o, correlation = corAR1(form = ~1 | Subject),
                 weights = varIdent(form = ~1 | occf), control = gctl))),
  list("orth_gls_us", "o", "distance ~ age * Sex", "us(occ | Subject)",
       quote(gls(distance ~ age * Sex, o, correlation = corSymm(form = ~1 | Subject),
                 weights = varIdent(form = ~1 | occf), control = gctl))),
  list("orth_gls_het", "o", "distance ~ age * Sex", "het(Sex)",
       quote(gls(distance ~ age * Sex, o, weights = varIdent(form = ~1 | Sex), control = gctl))),
  list("orth_lme_ar1", "o", "distance ~ age + Sex + (1 | Subject)", "ar1(occ | Subject)",
       quote(lme(distance ~ age + Sex, o, random = ~1 | Subject, correlation = corAR1(form = ~1 | Subject),
                 control = lctl))),
  list("orth_lme_het", "o", "distance ~ age * Sex + (age | Subject)", "het(Sex)",
       quote(lme(distance ~ age * Sex, o, random = ~age | Subject, weights = varIdent(form = ~1 | Sex),
                 control = lctl))),
  list("ovary_gls_ar1", "ov", "follicles ~ s1 + c1", "ar1(occ | Mare)",
       quote(gls(follicles ~ s1 + c1, ov, correlation = corAR1(form = ~1 | Mare), control = gctl))),
  list("ovary_gls_car1", "ov", "follicles ~ s1 + c1", "sp_exp(Time | Mare)",
       quote(gls(follicles ~ s1 + c1, ov, correlation = corCAR1(form = ~Time | Mare), control = gctl))),
  list("ovary_lme_ar1", "ov", "follicles ~ s1 + c1 + (1 | Mare) + (0 + s1 | Mare)", "ar1(occ | Mare)",
       quote(lme(follicles ~ s1 + c1, ov, random = list(Mare = pdDiag(~s1)), correlation = corAR1(form = ~1 | Mare),
                 control = lctl))),
  list("bw_lme_car1", "bw", "weight ~ Time * C(Diet) + (Time | Rat)", "sp_exp(Time | Rat)",
       quote(lme(weight ~ Time * Diet, bw, random = ~Time | Rat, correlation = corCAR1(form = ~Time | Rat),
                 control = lctl))),
  list("bw_lme_het", "bw", "weight ~ Time * C(Diet) + (Time | Rat)", "het(Diet)",
       quote(lme(weight ~ Time * Diet, bw, random = ~Time | Rat, weights = varIdent(form = ~1 | Diet),
                 control = lctl))),
  list("dialyzer_lme_het", "dz", "rate ~ (pressure + p2) * C(QB) + (pressure | Subject)", "het(QB)",
       quote(lme(rate ~ (pressure + p2) * QB, dz, random = ~pressure | Subject,
                 weights = varIdent(form = ~1 | QB), control = lctl))),
  list("oxboys_lme_ar1", "ox", "height ~ age + age2 + (age | Subject)", "ar1(Occasion | Subject)",
       quote(lme(height ~ age + age2, ox, random = ~age | Subject, correlation = corAR1(form = ~1 | Subject),
                 control = lctl))),
  list("oxboys_gls_cs", "ox", "height ~ age", "cs(Occasion | Subject)",
       quote(gls(height ~ age, ox, correlation = corCompSymm(form = ~1 | Subject), control = gctl))),
  list("pixel_lme_het", "px", "pixel ~ day + day2 + (day | Dog) + (1 | Dog:Side)", "het(Side)",
       quote(lme(pixel ~ day + day2, px, random = list(Dog = ~day, Side = ~1),
                 weights = varIdent(form = ~1 | Side), control = lctl))),
  list("wheat_gls_exp", "wh", "yield ~ 0 + variety", "sp_exp(latitude, longitude)",
       quote(gls(yield ~ variety - 1, wh, correlation = corExp(form = ~latitude + longitude), control = gctl))),
  list("wheat_lme_exp", "wh", "yield ~ variety + (1 | Block)", "sp_exp(latitude, longitude | Block)",
       quote(lme(yield ~ variety, wh, random = ~1 | Block,
                 correlation = corExp(form = ~latitude + longitude | Block), control = lctl)))
)

residual_block <- function(m, d, subj_col) {
  # the residual covariance (sigma^2 R, conditional on the random effects) of the first subject,
  # rows in data order; for varIdent without subjects: the per-row residual variances
  if (is.null(subj_col)) return(NULL)
  s <- as.character(d[[subj_col]][1])
  V <- if (inherits(m, "lme")) getVarCov(m, individuals = s, type = "conditional")[[1]]
       else getVarCov(m, individual = s)
  matrix(as.numeric(V), nrow(V))
}

for (cs in cases) {
  name <- cs[[1]]; d <- get(cs[[2]])
  t0 <- proc.time()[["elapsed"]]
  m <- eval(cs[[5]])
  el <- proc.time()[["elapsed"]] - t0
  is_lme <- inherits(m, "lme")
  tt <- if (is_lme) summary(m)$tTable else summary(m)$tTable
  subj <- if (grepl("|", cs[[4]], fixed = TRUE)) trimws(sub(".*\\|", "", sub("\\)$", "", cs[[4]]))) else NULL
  if (!is.null(subj) && grepl("/", subj)) subj <- trimws(sub(".*/", "", subj))
  vs <- m$modelStruct$varStruct
  vw <- rep(1, nrow(d))
  if (!is.null(vs)) {  # varIdent: the level's SD multiplier, mapped to the rows in data order
    # (varWeights are in lme's internal, group-sorted order)
    lev_sd <- tapply(1 / varWeights(vs), attr(vs, "groups"), function(x) x[1])
    vw <- num(lev_sd[as.character(d[[all.vars(getGroupsFormula(vs))[1]]])])
  }
  out <- list(
    name = name, data = paste0("nlme_", cs[[2]]), formula = cs[[3]], residual = cs[[4]],
    nlme_call = paste(deparse(cs[[5]], width.cutoff = 500L), collapse = ""),
    m2rl = num(-2 * logLik(m)), sigma = num(m$sigma),
    coef_names = rownames(tt), estimate = num(tt[, "Value"]), se = num(tt[, "Std.Error"]),
    nlme_df = if (is_lme) num(tt[, "DF"]) else rep(nrow(d) - ncol(vcov(m)), nrow(tt)),
    # residual sd per row (sigma / varWeights; order of the data rows)
    resid_sd = num(m$sigma * vw),
    first_block = residual_block(m, d, subj),
    corr_par = if (is.null(m$modelStruct$corStruct)) NULL else
      num(coef(m$modelStruct$corStruct, unconstrained = FALSE)),
    random_sd = if (is_lme) {
      vc <- VarCorr(m); sdv <- suppressWarnings(as.numeric(vc[, "StdDev"]))
      num(sdv[!is.na(sdv)][-sum(!is.na(sdv))])
    } else NULL,
    seconds = el)
  # Satterthwaite df per coefficient from emmeans (numerical derivatives of nlme's apVar); kept
  # for information only (emmeans' derivative approximation differs from SAS's analytic one)
  rg <- tryCatch(ref_grid(m, mode = "satterthwaite"), error = function(e) NULL)
  if (!is.null(rg)) {
    p <- length(out$estimate)
    out$emmeans_satt_df <- vapply(seq_len(p), function(j) { L <- numeric(p); L[j] <- 1
      tryCatch(num(rg@dffun(L, rg@dfargs)), error = function(e) NA_real_) }, 0.0)
  }
  write(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
        file.path("expected_nlme", paste0(name, ".json")))
  cat(sprintf("%-18s -2RL %.6f  %.2fs\n", name, -2 * logLik(m), el))
}
