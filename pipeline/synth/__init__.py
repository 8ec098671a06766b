"""Building blocks of the synthetic source data: one module per generated table family."""
