suppressMessages({library(lme4)})
w <- function(d, n) write.csv(as.data.frame(d), file.path("data", paste0(n, ".csv")), row.names = FALSE)
# 3-level nesting a/b/c, labels reused within parents (b1..b3 under every a)
set.seed(505)
d <- expand.grid(rep = 1:3, c = sprintf("c%d", 1:3), b = sprintf("b%d", 1:3), a = sprintf("A%d", 1:7))
ai <- as.integer(d$a); abi <- interaction(d$a, d$b, drop = TRUE); abci <- interaction(d$a, d$b, d$c, drop = TRUE)
d$x <- round(rnorm(nrow(d), 10, 3), 2)
d$trt <- sample(c("T1","T2"), nrow(d), TRUE)
d$y <- 30 + 0.5*d$x + 2*(d$trt=="T2") + rnorm(7, 0, 3)[ai] + rnorm(nlevels(abi), 0, 2)[as.integer(abi)] +
  rnorm(nlevels(abci), 0, 1.5)[as.integer(abci)] + rnorm(nrow(d), 0, 1)
d <- d[-sample(nrow(d), 9), ]; d$rep <- NULL; w(d, "sim3lev")
# two correlated slopes x, z per g
set.seed(606)
g <- 30; n <- 10
d <- data.frame(g = rep(sprintf("G%02d", 1:g), each = n), x = runif(g*n, -2, 2), z = rnorm(g*n))
S <- matrix(c(4, .8, -.5, .8, 1, .2, -.5, .2, .5), 3)
b <- matrix(rnorm(3*g), g) %*% chol(S)
gi <- as.integer(factor(d$g))
d$y <- 5 + 1.2*d$x - 0.7*d$z + b[gi,1] + b[gi,2]*d$x + b[gi,3]*d$z + rnorm(g*n)
w(d, "sim2slope")
# sleepstudy variants: scaled Days, NA in response / covariate / group, string and integer group codes
s <- lme4::sleepstudy
s$Days100 <- s$Days * 100; s$Days2 <- 2 * s$Days + 1
set.seed(707); s$z <- round(rnorm(nrow(s)), 3)
s$subj_chr <- paste0("subj_", as.character(s$Subject)); s$subj_int <- as.integer(s$Subject)
s$Reaction[c(3, 50, 77, 140)] <- NA; s$z[c(10, 11, 99)] <- NA; s$subj_chr[c(170)] <- NA
w(s, "sleep_na")
s <- lme4::sleepstudy; s$Days100 <- s$Days * 100; s$Days2 <- 2 * s$Days + 1; s$subj_int <- as.integer(s$Subject)
w(s, "sleep2")
# cake with an empty recipe x temperature cell (rank-deficient interaction)
k <- as.data.frame(lme4::cake); k$temperature <- as.character(k$temperature)
k <- k[!(k$recipe == "C" & k$temperature == "225"), ]; w(k, "cake_gap")
