"""From data to design: model frame, fixed-effects matrix X, random-effects structure Z and Λ(θ)."""
