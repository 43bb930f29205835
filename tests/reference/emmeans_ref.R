# Reference values from emmeans (with pbkrtest / lmerTest df) for mixedpy's emmeans checks.
# usage: cd tests/reference && Rscript emmeans_ref.R [case ...]
# Writes expected_emmeans/<case>.json.  The models are the reference cases of cases_*.json
# (same data and formulas, fitted with lmerTest::lmer as make_ref.R does) plus "oats_unbal": nlme's
# Oats without R rows 1, 7, 20, 33, 50, yield ~ nf * Variety + (1 | Block/Variety), nf = factor(nitro).
# Each case lists analyses: specs, by, and which comparisons to record; every analysis is done
# with Kenward-Roger and with Satterthwaite df (emm_options lift the size limits of both).
suppressMessages({library(lme4); library(lmerTest); library(emmeans); library(jsonlite); library(pbkrtest)})
emm_options(pbkrtest.limit = 1e5, lmerTest.limit = 1e5)
out_dir <- "expected_emmeans"; data_dir <- "data"
dir.create(out_dir, showWarnings = FALSE)
cases <- list()
for (f in c("cases_public.json", "cases_extra.json", "cases_coding.json"))
  for (cs in fromJSON(f, simplifyVector = FALSE)) { cs$source <- f; cases[[cs$name]] <- cs }
cases[["oats_unbal"]] <- list(name = "oats_unbal", data = "Oats", source = "emmeans_ref.R",
  r_formula = "yield ~ nf * Variety + (1 | Block/Variety)", formula = "yield ~ nf * Variety + (1 | Block/Variety)",
  reml = TRUE, factors = list("Block", "Variety"), drop_rows = list(1, 7, 20, 33, 50),
  factor_of = list(nf = "nitro"))
# case -> list of analyses: list(specs, by, contrasts = methods recorded besides pairs)
A <- function(specs, by = NULL, contrasts = character(0), adjust = c("tukey", "bonferroni", "holm", "sidak", "none"),
              cld = FALSE, mvt = FALSE) list(specs = specs, by = by, contrasts = contrasts, adjust = adjust, cld = cld, mvt = mvt)
plan <- list(
  oats_unbal = list(A("Variety", cld = TRUE, mvt = TRUE), A("nf", by = "Variety", contrasts = c("poly", "trt.vs.ctrl", "consec")),
                    A(c("nf", "Variety"), adjust = c("tukey", "holm"))),
  cake_factorial = list(A("recipe", contrasts = c("eff", "trt.vs.ctrl")), A("temperature", by = "recipe", contrasts = "poly", cld = TRUE)),
  cake_unbal_reml = list(A("recipe"), A("temperature", contrasts = c("poly", "consec"))),
  cake_temp_ml = list(A("recipe", contrasts = "eff", cld = TRUE)),
  cake_gap_rankdef = list(A("recipe"), A("temperature", by = "recipe", adjust = c("tukey", "holm"))),
  cake_poly = list(A("recipe"), A("temperature", by = "recipe", contrasts = "poly", adjust = c("tukey", "none"))),
  ham_3way = list(A("Product", contrasts = "trt.vs.ctrl", cld = TRUE), A("Information", by = c("Gender"), adjust = c("tukey", "none"))),
  ham_sum_3way = list(A("Product"), A(c("Product", "Information"), adjust = c("tukey", "bonferroni"))),
  ham_age_ml = list(A("Product", by = "Information", adjust = c("tukey", "sidak"))),
  tvbo_sharpness = list(A("TVset", cld = TRUE), A("Picture", by = "TVset", contrasts = "consec")),
  tvbo_helmert = list(A("Picture", contrasts = "poly")),
  carrots_slope = list(A("Homesize", contrasts = "trt.vs.ctrl")),
  oats_splitplot = list(A("Variety", contrasts = "eff", cld = TRUE)),
  oats_slope_singular_ml = list(A("Variety", contrasts = "consec")),
  orthodont_slope = list(A("Sex")),
  orthodont_poly = list(A("age", by = "Sex", contrasts = "poly", adjust = c("tukey", "holm"))),
  machines_factor_slope = list(A("Machine", cld = TRUE)),
  ergostool_ml = list(A("Type", contrasts = c("trt.vs.ctrl", "eff"), cld = TRUE)),
  chickweight_uncorr = list(A("Diet", contrasts = "trt.vs.ctrl")),
  chickweight_sum_uncorr = list(A("Diet")),
  alfalfa_splitplot = list(A("Variety"), A("Date", by = "Variety", cld = TRUE)),
  assay_blocked = list(A("sample", contrasts = "eff"), A("dilut", by = "sample", adjust = c("tukey", "holm"))),
  sim_sensory_3way = list(A("A", by = "C"), A(c("A", "B"), adjust = c("tukey", "holm"))),
  sim_splitplot_cov_ml = list(A("wp"), A("sub", by = "wp")),
  sim_splitplot_reml = list(A("sub", by = "wp", contrasts = "consec")),
  fact34_reml = list(A("A", cld = TRUE), A("B", by = "A")),
  ssp_reml = list(A("C", by = c("A", "B"), adjust = c("tukey", "bonferroni"))),
  strip_reml = list(A("A", by = "B")),
  rm_reml = list(A("cond", by = "group", contrasts = "trt.vs.ctrl"), A("group")),
  beets_yield = list(A("sow", contrasts = "poly", cld = TRUE), A("harvest")),
  oatsMASS_NV = list(A("N", by = "V", contrasts = "poly"), A("V")),
  co2_concK_slope_ml = list(A("Type", by = "Treatment")),
  milk_diet_time = list(A("Diet")),
  npk_reml = list(A("N", by = c("P", "K")), A("P")),
  ratpup_reml = list(A("Treatment", by = "sex", contrasts = "trt.vs.ctrl")),
  sens0_ml = list(A("Product", by = "Session")),
  numfac_reml = list(A("F")),
  dialyzer_poly = list(A("QB")),
  rabbit_ml = list(A("Treatment")),
  fewsites_reml = list(A("trt"))
)
args <- commandArgs(TRUE)
todo <- if (length(args)) args else names(plan)
num <- function(x) unname(as.numeric(x))
tab <- function(s) {  # a summary_emm as a list of columns (factor columns as character)
  s <- as.data.frame(s)
  lapply(s, function(col) if (is.factor(col) || is.character(col)) as.character(col) else num(col))
}
for (nm in todo) {
  cs <- cases[[nm]]
  d <- read.csv(file.path(data_dir, paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  if (!is.null(cs$drop_rows)) d <- d[-unlist(cs$drop_rows), ]
  for (f in names(cs$factor_of)) d[[f]] <- factor(d[[cs$factor_of[[f]]]])
  for (f in unlist(cs$factors)) d[[f]] <- factor(d[[f]])
  for (f in unlist(cs$ordered)) d[[f]] <- factor(d[[f]], ordered = TRUE)
  old <- options(contrasts = if (is.null(cs$contrasts)) c("contr.treatment", "contr.poly") else unlist(cs$contrasts))
  ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
  m <- suppressMessages(suppressWarnings(lmerTest::lmer(as.formula(cs$r_formula), data = d, REML = isTRUE(cs$reml), control = ctrl)))
  analyses <- list()
  for (an in plan[[nm]]) for (mode in c("kenward-roger", "satterthwaite")) {
    set.seed(1)
    e <- if (is.null(an$by)) emmeans(m, an$specs, lmer.df = mode) else emmeans(m, an$specs, by = an$by, lmer.df = mode)
    r <- list(specs = an$specs, by = an$by, ddf = mode, table = tab(e))
    r$pairs <- lapply(setNames(an$adjust, an$adjust), function(a) tab(pairs(e, adjust = a)))
    if (an$mvt) r$pairs$mvt <- tab(pairs(e, adjust = "mvt"))
    r$contrasts <- lapply(setNames(an$contrasts, an$contrasts), function(meth)
      list(default = tab(contrast(e, meth)), none = tab(contrast(e, meth, adjust = "none"))))
    if (an$cld) r$cld <- tab(suppressMessages(emmeans:::cld.emmGrid(e, Letters = c("1234567890", LETTERS, letters))))
    analyses[[length(analyses) + 1]] <- r
  }
  jt <- list(`kenward-roger` = tab(joint_tests(m, lmer.df = "kenward-roger")),
             satterthwaite = tab(joint_tests(m, lmer.df = "satterthwaite")))
  rg <- ref_grid(m)
  res <- list(name = nm, case = cs, emmeans_version = as.character(packageVersion("emmeans")),
              pbkrtest_version = as.character(packageVersion("pbkrtest")),
              grid_levels = lapply(rg@levels, as.character), analyses = analyses, joint_tests = jt)
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = FALSE),
             file.path(out_dir, paste0(nm, ".json")))
  options(old)
  cat(nm, "\n")
}
