"""Synaptic intelligence (Zenke et al. 2017) on any optimizer strategy."""

from clbench.methods.compose import method_strategy


def make_plugins(config):
    from clbench.methods.avalanche_plugins import SI  # Avalanche loads only when a run uses it

    return [SI(config["si_lambda"], config["si_eps"])]


STRATEGY = method_strategy(
    name="si",
    description="synaptic intelligence (Avalanche's plugin), lambda 1, eps 0.1, on --set optimizer (adamw)",
    defaults={"si_lambda": 1.0, "si_eps": 0.1},  # Avalanche's continual-learning-baselines, multi-head Split MNIST
    make_plugins=make_plugins,
)
