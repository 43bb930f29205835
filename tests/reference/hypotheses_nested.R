# lmerTest 3.1-3's hypothesis matrices (attr(anova(m, type), "hypotheses")) of the type I, II and
# III tables of the nested-term cases; run from tests/reference:
#   Rscript hypotheses_nested.R   (writes expected_hypotheses/<case>.json)
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
cases <- Filter(function(cs) cs$name %in% c("met_env_rep", "nested_ax", "nested_acb", "nested_abx_ml"),
                fromJSON("cases_extra.json", simplifyVector = FALSE))
dir.create("expected_hypotheses", showWarnings = FALSE)
for (cs in cases) {
  d <- read.csv(file.path("data", paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  for (f in unlist(cs$factors)) d[[f]] <- factor(d[[f]])
  m <- lmer(as.formula(cs$r_formula), data = d, REML = isTRUE(cs$reml),
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  hyp <- function(type) lapply(attr(anova(m, type = type), "hypotheses"), function(L) unname(as.matrix(L)))
  res <- list(name = cs$name, coef_names = colnames(model.matrix(m)),
              type1 = hyp(1), type2 = hyp(2), type3 = hyp(3))
  write(toJSON(res, digits = NA, pretty = FALSE), file.path("expected_hypotheses", paste0(cs$name, ".json")))
  cat(cs$name, "done\n")
}
