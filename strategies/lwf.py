"""Learning without forgetting (Li & Hoiem 2016) on any optimizer strategy."""

from clbench.methods.compose import method_strategy


def make_plugins(config):
    from clbench.methods.avalanche_plugins import LwF  # Avalanche loads only when a run uses it

    return [LwF(alpha=config["lwf_alpha"], temperature=config["lwf_temperature"])]


STRATEGY = method_strategy(
    name="lwf",
    description="learning without forgetting (Avalanche's plugin) on the old heads, alpha 1, T 2, on --set optimizer",
    defaults={"lwf_alpha": 1.0, "lwf_temperature": 2.0},  # the paper's, as Avalanche's baselines
    make_plugins=make_plugins,
)
