"""Synaptic intelligence (Zenke et al. 2017) on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.avalanche_callbacks import SI  # Avalanche loads only when a run uses it

    return [SI(config["si_lambda"], config["si_eps"])]


STRATEGY = method_strategy(
    name="si",
    description="synaptic intelligence (Avalanche's callback), lambda 1, eps 0.1, on --set optimizer (adamw)",
    defaults={"si_lambda": Setting(1.0, "strength of the penalty (Avalanche's continual-learning-baselines, multi-head Split MNIST)", within="[0, inf)"),
              "si_eps": Setting(0.1, "damping of the importance's denominator", within="(0, inf)")},
    make_callbacks=make_callbacks,
)
