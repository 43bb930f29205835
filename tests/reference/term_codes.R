# R's contrast-coded variables of each term (attr(terms, "factors") == 1, what lmerTest's containment
# sees) for formulas with nested terms; run from tests/reference: Rscript term_codes.R > term_codes.json
fs <- c("y ~ a*c + a:b + x + a:x + c:x", "y ~ env + env:rep", "y ~ 0 + a + a:b", "y ~ a + b:c", "y ~ x + a:x",
        "y ~ a:b + a:b:c", "y ~ a + b + a:b:c", "y ~ a*b + a:b:c + d + c:d")
out <- lapply(fs, function(f) { fm <- attr(terms(as.formula(f)), "factors"); fm <- fm[-1, , drop = FALSE]
  list(formula = f, terms = colnames(fm), coded = lapply(colnames(fm), function(t) rownames(fm)[fm[, t] == 1])) })
cat(jsonlite::toJSON(out, auto_unbox = FALSE, pretty = FALSE)); cat("\n")
