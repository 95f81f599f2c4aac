"""Online EWC (Schwarz et al. 2018): one running Fisher penalty, decayed per task, on any optimizer strategy."""

from clbench.methods.compose import method_strategy


def make_plugins(config):
    from clbench.methods.avalanche_plugins import EWC  # Avalanche loads only when a run uses it

    return [EWC(config["ewc_lambda"], mode="online", decay_factor=config["decay_factor"])]


STRATEGY = method_strategy(
    name="ewc_online",
    description="online EWC, one decayed penalty (Avalanche's EWCPlugin), lambda 1, decay 0.1, on --set optimizer",
    defaults={"ewc_lambda": 1.0, "decay_factor": 0.1},  # lambda as ewc's; decay as Avalanche's online-EWC example
    make_plugins=make_plugins,
)
