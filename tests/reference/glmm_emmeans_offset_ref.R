# emmeans with an offset on a simulated Poisson GLMM (writes tests/reference/data/poisson_offset.csv and
# expected_glmer_emmeans/poisson_offset_trt.json). Run from the repository root:
#   Rscript tests/reference/glmm_emmeans_offset_ref.R
suppressPackageStartupMessages({library(lme4); library(emmeans); library(jsonlite)})
set.seed(11)
g <- 40; n <- 400
d <- data.frame(site = factor(rep(seq_len(g), each = n / g)), trt = factor(sample(c("A", "B", "C"), n, TRUE)),
                x = rnorm(n), exposure = round(runif(n, 0.5, 5), 2))
eta <- 0.3 + 0.4 * (d$trt == "B") - 0.3 * (d$trt == "C") + 0.2 * d$x + rnorm(g, sd = 0.5)[d$site] + log(d$exposure)
d$count <- rpois(n, exp(eta))
write.csv(d, "tests/reference/data/poisson_offset.csv", row.names = FALSE)
m <- glmer(count ~ trt + x + offset(log(exposure)) + (1 | site), data = d, family = poisson,
           control = glmerControl(tolPwrss = 1e-12))
el <- as.data.frame(summary(emmeans(m, "trt")))
er <- as.data.frame(summary(emmeans(m, "trt", type = "response")))
pr <- as.data.frame(summary(pairs(emmeans(m, "trt"))))
out <- list(formula = "count ~ trt + x + offset(log(exposure)) + (1 | site)", minus2logLik = -2 * as.numeric(logLik(m)),
            emmeans_link = lapply(el, function(v) if (is.factor(v)) as.character(v) else v),
            emmeans_response = lapply(er, function(v) if (is.factor(v)) as.character(v) else v),
            pairs_link = lapply(pr, function(v) if (is.factor(v)) as.character(v) else v))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/expected_glmer_emmeans/poisson_offset_trt.json")
print(el); print(er)
