"""Memory aware synapses (Aljundi et al. 2018) on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.avalanche_callbacks import MAS  # Avalanche loads only when a run uses it

    return [MAS(lambda_reg=config["mas_lambda"], alpha=config["mas_alpha"])]


STRATEGY = method_strategy(
    name="mas",
    description="memory aware synapses (Avalanche's callback), lambda 1, alpha 0.5, on --set optimizer (adamw)",
    defaults={"mas_lambda": Setting(1.0, "strength of the penalty (Avalanche's default and baselines)", within="[0, inf)"),
              "mas_alpha": Setting(0.5, "weight of the new importance in its running average", within="[0, 1]")},
    make_callbacks=make_callbacks,
)
