# Simulated designs with nested fixed terms (a + a:b without b) for the anova reference cases
# (met_env_rep, nested_ax, nested_acb, nested_abx_ml in cases_extra.json): run from tests/reference
#   Rscript make_data_nested.R
# then the references (expected/<case>.json) with make_ref.R on those four cases only, e.g.
#   Rscript -e 'j <- jsonlite::fromJSON("cases_extra.json", simplifyVector = FALSE); jsonlite::write_json(Filter(function(c) c$name %in% c("met_env_rep", "nested_ax", "nested_acb", "nested_abx_ml"), j), "/tmp/cases_nested.json", auto_unbox = TRUE)'
#   Rscript make_ref.R /tmp/cases_nested.json expected data
# and their hypothesis matrices with hypotheses_nested.R.
set.seed(20240611)
# 1. Multi-environment trial: 6 environments x 3 reps (fixed, within environments) x 100 genotypes,
#    about 6% of the plots missing.
ne <- 6; nr <- 3; ng <- 100
d <- expand.grid(genotype = sprintf("G%03d", 1:ng), rep = paste0("R", 1:nr), env = paste0("E", 1:ne),
                 stringsAsFactors = FALSE)
emean <- rnorm(ne, 6, 1.5); repeff <- matrix(rnorm(ne * nr, 0, 0.4), ne, nr)
g <- rnorm(ng, 0, 0.5); ge <- matrix(rnorm(ng * ne, 0, 0.35), ng, ne)
ie <- match(d$env, paste0("E", 1:ne)); ir <- match(d$rep, paste0("R", 1:nr)); ig <- match(d$genotype, sprintf("G%03d", 1:ng))
d$yld <- round(emean[ie] + repeff[cbind(ie, ir)] + g[ig] + ge[cbind(ig, ie)] + rnorm(nrow(d), 0, 0.6), 3)
d <- d[runif(nrow(d)) > 0.06, c("env", "rep", "genotype", "yld")]
write.csv(d, "data/met_nested.csv", row.names = FALSE)

# 2. Groups with a group-specific slope (a + a:x, x numeric) and a nested factor (a*c + a:b):
#    4 groups a, 3 sub-units b within each a (labels b1..b3 repeated), treatment c (2 levels),
#    30 subjects g crossed with a, unbalanced (about 10% missing).
na <- 4; nb <- 3; nsub <- 30
d2 <- expand.grid(g = sprintf("S%02d", 1:nsub), b = paste0("b", 1:nb), a = paste0("a", 1:na), c = c("c1", "c2"),
                  stringsAsFactors = FALSE)
d2$x <- round(runif(nrow(d2), 0, 10), 2)
ia <- match(d2$a, paste0("a", 1:na)); ib <- match(d2$b, paste0("b", 1:nb)); is <- match(d2$g, sprintf("S%02d", 1:nsub))
amean <- c(10, 12, 9, 11); aslope <- c(0.3, -0.2, 0.5, 0.1); bmean <- matrix(rnorm(na * nb, 0, 1), na, nb)
ceff <- c(0, 0.8); ac <- matrix(rnorm(na * 2, 0, 0.4), na, 2)
us <- rnorm(nsub, 0, 1.2); usa <- matrix(rnorm(nsub * na, 0, 0.5), nsub, na)
ic <- match(d2$c, c("c1", "c2"))
d2$y <- round(amean[ia] + aslope[ia] * d2$x + bmean[cbind(ia, ib)] + ceff[ic] + ac[cbind(ia, ic)] +
              us[is] + usa[cbind(is, ia)] + rnorm(nrow(d2), 0, 1), 3)
d2 <- d2[runif(nrow(d2)) > 0.10, c("g", "a", "b", "c", "x", "y")]
write.csv(d2, "data/nested_ab.csv", row.names = FALSE)
