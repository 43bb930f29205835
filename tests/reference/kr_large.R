# pbkrtest Kenward-Roger type III table on the first 9000 rows of InstEval (beyond dense n x n in mixedpy):
# usage: Rscript kr_large.R  (writes kr.json; copied to expected_kr_large/insteval_9000.json)
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)})
d <- read.csv("data/InstEval.csv")
d <- d[1:9000, ]
for (f in c("s","d","dept","service")) d[[f]] <- factor(d[[f]])
m <- lmerTest::lmer(y ~ service + studage + (1 | d) + (1 | dept:service), d, REML=TRUE, control=lmerControl(optimizer="bobyqa"))
t0 <- proc.time()[["elapsed"]]
a <- anova(m, type=3, ddf="Kenward-Roger")
el <- proc.time()[["elapsed"]] - t0
s <- anova(m, type=3)
print(a); print(s); print(el)
write_json(list(rows=9000, formula="y ~ service + studage + (1 | d) + (1 | dept:service)", terms=rownames(a), F=unname(a[["F value"]]), DenDF=unname(a$DenDF), NumDF=unname(a$NumDF), seconds=el, reml_criterion=REMLcrit(m)), "kr.json", digits=NA, auto_unbox=TRUE)
