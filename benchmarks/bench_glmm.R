# glmer timed on the VerbAgg model (Laplace, nAGQ = 1), for a Python GLMM benchmark.
#   r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), binomial(logit), 7,584 rows
# Two controls: lme4's default glmerControl() and the tight one of the reference values
# (tests/reference/glmer_ref.R): tolPwrss = 1e-12, optimizer = "bobyqa", maxfun = 1e5.
# Each fit is repeated (3 times by default) and the median elapsed seconds reported.
#
# usage: Rscript benchmarks/bench_glmm.R out.json [data.csv] [repeats]
#   data.csv defaults to mixedpy/datasets/VerbAgg.csv (relative to the repository root, found
#   from this script's location, else the working directory)
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript bench_glmm.R out.json [data.csv] [repeats]")
out <- args[1]
script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else getwd()
csv <- if (length(args) >= 2 && nzchar(args[2])) args[2] else file.path(root, "mixedpy", "datasets", "VerbAgg.csv")
reps <- if (length(args) >= 3) as.integer(args[3]) else 3L

d <- read.csv(csv, stringsAsFactors = FALSE)
d$id <- factor(d$id)
d$item <- factor(d$item, levels = unique(d$item))      # level order does not change the fit
for (f in c("Gender", "btype", "situ")) d[[f]] <- factor(d[[f]])
form <- r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)

controls <- list(
  default = glmerControl(),
  tight = glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
)
res <- list()
for (nm in names(controls)) {
  secs <- numeric(reps); m <- NULL
  for (r in seq_len(reps)) {
    t0 <- proc.time()[["elapsed"]]
    m <- suppressWarnings(glmer(form, data = d, family = binomial, nAGQ = 1, control = controls[[nm]]))
    secs[r] <- proc.time()[["elapsed"]] - t0
  }
  res[[nm]] <- list(median_seconds = median(secs), seconds = secs,
                    minus2logLik = -2 * as.numeric(logLik(m)), fixef = as.list(fixef(m)),
                    theta = as.list(getME(m, "theta")), feval = m@optinfo$feval)
  cat(sprintf("%-8s median %.2f s  -2logLik %.7f\n", nm, median(secs), -2 * as.numeric(logLik(m))))
}
write_json(list(model = deparse(form), family = "binomial(logit)", nAGQ = 1, nobs = nrow(d), repeats = reps,
                lme4 = as.character(packageVersion("lme4")), R = R.version.string, results = res),
           out, digits = NA, auto_unbox = TRUE, pretty = TRUE)
