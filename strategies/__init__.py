"""Built-in strategy plugins: each module defines STRATEGY = clbench.strategy.Strategy(...)."""
