"""Built-in strategies: each module defines STRATEGY = clbench.strategy.Strategy(...) or STRATEGIES = [...]."""
