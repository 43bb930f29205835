suppressMessages({library(lme4); library(nlme); library(MASS)})
w <- function(d, n) write.csv(as.data.frame(d), file.path("data", paste0(n, ".csv")), row.names = FALSE)
# real data
d <- as.data.frame(nlme::Wheat2); d$Block <- as.character(d$Block); d$variety <- as.character(d$variety); d$latitude <- NULL; d$longitude <- NULL; w(d, "Wheat2")
w(MASS::petrol, "petrol")
d <- as.data.frame(datasets::Loblolly); d$Seed <- as.character(d$Seed); w(d, "Loblolly")
w(datasets::npk, "npk")
w(MASS::Rabbit, "Rabbit")
d <- as.data.frame(nlme::RatPupWeight); d$Litter <- as.character(d$Litter); w(d, "RatPupWeight")
w(MASS::immer, "immer")
d <- as.data.frame(nlme::Ovary); d$Mare <- as.character(d$Mare); d$s1 <- sin(2*pi*d$Time); d$c1 <- cos(2*pi*d$Time); w(d, "Ovary")
# sim 1: sensory panel, Assessor:Session variance 0
set.seed(6100)
d <- expand.grid(Rep = c("r1","r2"), Session = c("s1","s2","s3"), Product = c("P1","P2","P3","P4","P5"), Assessor = sprintf("A%02d", 1:10))
ai <- as.integer(d$Assessor); ap <- interaction(d$Assessor, d$Product)
d$Score <- round(5 + c(0, .5, -.3, 1, .2)[as.integer(d$Product)] + c(0,.2,.1)[as.integer(d$Session)] + rnorm(10, 0, 1)[ai] +
  rnorm(nlevels(ap), 0, .7)[as.integer(ap)] + rnorm(nrow(d), 0, .8), 1)
w(d, "sens0")
# sim 2: (1 + x | g) with correlation at +-1 (slope var tiny, perfectly tied), 8 groups
set.seed(6002)
G <- 8; n <- 10
d <- data.frame(g = rep(sprintf("g%d", 1:G), each = n)); gi <- as.integer(factor(d$g))
d$x <- round(runif(nrow(d), 0, 10), 2); b0 <- rnorm(G, 0, 2)
d$y <- 3 + 0.5 * d$x + b0[gi] + 0.15 * b0[gi] * d$x + rnorm(nrow(d), 0, 2)
d$y2 <- 3 + 0.5 * d$x + b0[gi] - 0.12 * b0[gi] * d$x + rnorm(nrow(d), 0, 1.5)
w(d, "corone")
# sim 3: few groups (4), small component next to large, fixed effect with huge SE (group-level covariate)
set.seed(6003)
d <- expand.grid(rep = 1:6, plot = 1:5, site = c("S1","S2","S3","S4"))
d$plot <- paste(d$site, d$plot, sep = "_"); si <- as.integer(factor(d$site)); pi_ <- as.integer(factor(d$plot))
d$elev <- c(101.2, 101.9, 100.7, 101.5)[si]  # site-level covariate, tiny spread -> huge SE
d$trt <- ifelse(d$rep %% 2 == 0, "A", "B")
d$y <- 20 + 0.3 * (d$elev - 101) + (d$trt == "B") * 1.2 + rnorm(4, 0, 4)[si] + rnorm(20, 0, 0.25)[pi_] + rnorm(nrow(d), 0, 1)
w(d, "fewsites")
# sim 4: random slope corr ~ -0.9, uncentred covariate (x around 50)
set.seed(6200)
G <- 20; n <- 12
d <- data.frame(g = rep(sprintf("g%02d", 1:G), each = n)); gi <- as.integer(factor(d$g))
d$x <- round(runif(nrow(d), 0, 6), 2); d$xu <- d$x + 50
S <- matrix(c(4, -0.9 * 2 * 0.6, -0.9 * 2 * 0.6, 0.36), 2); b <- mvrnorm(G, c(0, 0), S)
d$y <- 10 + 1 * d$x + b[gi, 1] + b[gi, 2] * d$x + rnorm(nrow(d), 0, 1)
w(d, "cor09")
# sim 5: three-term crossed with few levels
set.seed(6005)
d <- expand.grid(r = 1:2, a = sprintf("a%d", 1:6), b = sprintf("b%d", 1:5), c = sprintf("c%d", 1:4))
d <- d[-sample(nrow(d), 40), ]
d$x <- round(rnorm(nrow(d)), 2)
d$y <- 1 + 0.4 * d$x + rnorm(6, 0, 1)[as.integer(d$a)] + rnorm(5, 0, .5)[as.integer(d$b)] + rnorm(4, 0, .15)[as.integer(d$c)] + rnorm(nrow(d), 0, 1)
w(d, "cross3")
# sim 6: nested, block variance 0 (singular), plot within block
set.seed(6006)
d <- expand.grid(sub = 1:4, plot = 1:6, blk = sprintf("B%d", 1:5))
d$plot <- paste(d$blk, d$plot, sep = "_"); d$trt <- rep(c("t1","t2","t3"), length.out = nrow(d))
d$y <- 10 + c(0, 1, 2)[as.integer(factor(d$trt))] + rnorm(30, 0, 1)[as.integer(factor(d$plot))] + rnorm(nrow(d), 0, 1)
w(d, "nest0")
# sim 7: (x || g), uncentred x, 12 groups
set.seed(6007)
G <- 12; n <- 8
d <- data.frame(g = rep(sprintf("g%02d", 1:G), each = n)); gi <- as.integer(factor(d$g))
d$x <- round(runif(nrow(d), 20, 30), 1)
d$y <- 5 + 0.2 * d$x + rnorm(G, 0, 1.5)[gi] + rnorm(G, 0, 0.1)[gi] * (d$x - 25) + rnorm(nrow(d), 0, 0.8)
w(d, "uncorr7")
