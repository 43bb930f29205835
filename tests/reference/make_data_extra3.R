suppressMessages({library(lme4); library(lmerTest)})
w <- function(d, n) write.csv(as.data.frame(d), file.path("data", paste0(n, ".csv")), row.names = FALSE)
# 1. cake with ~25% of rows deleted (unbalanced recipe x temperature)
set.seed(1101)
k <- as.data.frame(lme4::cake); k$temperature <- as.character(k$temperature); k$temp <- NULL
k$rr <- paste(k$recipe, k$replicate, sep = "_")
k <- k[-sample(nrow(k), 70), ]; w(k, "cake_unbal")
# 2. 3x4 factorial with unequal cell counts, covariate, random block
set.seed(1102)
cells <- expand.grid(A = c("a1","a2","a3"), B = c("b1","b2","b3","b4"))
nn <- c(2, 6, 3, 8, 1, 4, 5, 2, 7, 3, 1, 6)
d <- cells[rep(1:12, nn * 3), ]
d$blk <- sprintf("K%02d", sample(1:12, nrow(d), TRUE))
d$x <- round(rnorm(nrow(d), 20 + 3 * as.integer(d$A), 4), 2)
eff <- matrix(c(0, 2, -1, 1, 3, 0, 4, -2, 1, 2, 5, 0), 3)
d$y <- 10 + eff[cbind(as.integer(d$A), as.integer(d$B))] + 0.3 * d$x + rnorm(12, 0, 1.5)[as.integer(factor(d$blk))] + rnorm(nrow(d), 0, 1.2)
w(d, "fact34")
# 3. two numerics interacting, random slope on x1; x on centred vs uncentred and large scale
set.seed(1103)
G <- 25; n <- 12
d <- data.frame(g = rep(sprintf("g%02d", 1:G), each = n))
gi <- as.integer(factor(d$g))
d$x1 <- round(runif(nrow(d), 40, 60), 2); d$x2 <- round(rnorm(nrow(d), 5, 2), 2)
d$x1c <- d$x1 - mean(d$x1); d$xbig <- d$x1 * 1e4 / 50
d$F <- factor(sample(c("lo","mid","hi"), nrow(d), TRUE, prob = c(.5, .3, .2)))
b0 <- rnorm(G, 0, 3); b1 <- rnorm(G, 0, 0.15)
d$y <- 2 + 0.2 * d$x1 + 0.5 * d$x2 + 0.04 * d$x1 * d$x2 + b0[gi] + b1[gi] * (d$x1 - 50) + rnorm(nrow(d), 0, 1.5)
d$y2 <- 5 + 0.3 * d$x1c + c(lo = 0, mid = 2, hi = -1)[as.character(d$F)] + c(lo = 0, mid = 0.1, hi = -0.15)[as.character(d$F)] * d$x1c +
  b0[gi] + b1[gi] * d$x1c + rnorm(nrow(d), 0, 1.5)
d <- d[-sample(nrow(d), 17), ]
w(d, "numnum")
# 4. sensory panel: 12 assessors (gender between), 4 products, 3 sessions, 2 replicates, age covariate
set.seed(1104)
d <- expand.grid(Rep = c("r1","r2"), Session = c("s1","s2","s3"), Product = c("P1","P2","P3","P4"), Assessor = sprintf("A%02d", 1:12))
ai <- as.integer(d$Assessor)
gender <- c("F","M")[1 + (1:12 %% 2 == 0 | 1:12 %in% c(3))]; d$Gender <- gender[ai]
age <- round(runif(12, 20, 65)); d$Age <- age[ai]
ap <- interaction(d$Assessor, d$Product); as <- interaction(d$Assessor, d$Session)
d$Score <- 6 + c(0, .8, -.5, 1.2)[as.integer(d$Product)] + c(0, .3, .1)[as.integer(d$Session)] + .4 * (d$Gender == "M") +
  0.3 * (d$Product == "P2" & d$Gender == "M") + 0.2 * (d$Product == "P4" & d$Session == "s3" & d$Gender == "F") + 0.02 * d$Age +
  rnorm(12, 0, 1)[ai] + rnorm(nlevels(ap), 0, .6)[as.integer(ap)] + rnorm(nlevels(as), 0, .4)[as.integer(as)] + rnorm(nrow(d), 0, .7)
d$Score <- round(d$Score, 1)
d <- d[-sample(nrow(d), 25), ]
w(d, "panel")
# 5. split-split-plot: 4 blocks, A (3) main plots, B (2) subplots, C (3) sub-subplots
set.seed(1105)
d <- expand.grid(C = c("c1","c2","c3"), B = c("b1","b2"), A = c("a1","a2","a3"), blk = c("I","II","III","IV"))
bi <- as.integer(d$blk); ba <- interaction(d$blk, d$A); bab <- interaction(d$blk, d$A, d$B)
d$y <- 50 + c(0, 3, 5)[as.integer(d$A)] + c(0, 2)[as.integer(d$B)] + c(0, 1, 1.5)[as.integer(d$C)] +
  1.5 * (d$A == "a3" & d$B == "b2") + rnorm(4, 0, 3)[bi] + rnorm(nlevels(ba), 0, 2)[as.integer(ba)] +
  rnorm(nlevels(bab), 0, 1.5)[as.integer(bab)] + rnorm(nrow(d), 0, 1)
d$y <- round(d$y, 2); w(d, "ssp")
d2 <- d[-sample(nrow(d), 6), ]; w(d2, "ssp_unbal")
# 6. strip-plot: 5 blocks, A (3) in rows, B (4) in columns
set.seed(1106)
d <- expand.grid(B = c("b1","b2","b3","b4"), A = c("a1","a2","a3"), blk = sprintf("K%d", 1:5))
bi <- as.integer(d$blk); ba <- interaction(d$blk, d$A); bb <- interaction(d$blk, d$B)
d$y <- 20 + c(0, 2, 3)[as.integer(d$A)] + c(0, 1, -1, 2)[as.integer(d$B)] + 1 * (d$A == "a2" & d$B == "b4") +
  rnorm(5, 0, 2)[bi] + rnorm(nlevels(ba), 0, 1.5)[as.integer(ba)] + rnorm(nlevels(bb), 0, 1)[as.integer(bb)] + rnorm(nrow(d), 0, .8)
d$y <- round(d$y, 2); w(d, "strip")
# 7. repeated measures: 24 subjects, group between (3 levels, unequal), condition within (3), 3 trials per cell
set.seed(1107)
d <- expand.grid(trial = 1:3, cond = c("c1","c2","c3"), subj = sprintf("S%02d", 1:24))
si <- as.integer(d$subj); grp <- rep(c("ctl","drugA","drugB"), c(10, 8, 6)); d$group <- grp[si]
sc <- interaction(d$subj, d$cond)
d$rt <- 500 + c(0, 30, 60)[as.integer(d$cond)] + c(ctl = 0, drugA = -20, drugB = 10)[d$group] + 25 * (d$group == "drugA" & d$cond == "c3") +
  rnorm(24, 0, 40)[si] + rnorm(nlevels(sc), 0, 20)[as.integer(sc)] + rnorm(nrow(d), 0, 30)
d$rt <- round(d$rt, 1); d$trial <- NULL
d <- d[-sample(nrow(d), 20), ]; w(d, "rm")
file.copy("/work/main/tests/reference/data/TVbo.csv", "data/TVbo.csv", overwrite = TRUE)
file.copy("/work/main/tests/reference/data/ham.csv", "data/ham.csv", overwrite = TRUE)
