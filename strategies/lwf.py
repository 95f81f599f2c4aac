"""Learning without forgetting (Li & Hoiem 2016) on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.avalanche_callbacks import LwF  # Avalanche loads only when a run uses it

    return [LwF(alpha=config["lwf_alpha"], temperature=config["lwf_temperature"])]


STRATEGY = method_strategy(
    name="lwf",
    description="learning without forgetting (Avalanche's callback) on the old heads, alpha 1, T 2, on --set optimizer",
    defaults={"lwf_alpha": Setting(1.0, "weight of the distillation loss (the paper's, as Avalanche's baselines)", within="[0, inf)"),
              "lwf_temperature": Setting(2.0, "softmax temperature of the distillation", within="(0, inf)")},
    make_callbacks=make_callbacks,
)
