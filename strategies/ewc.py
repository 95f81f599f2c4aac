"""EWC (Kirkpatrick et al. 2017) with a separate penalty per earlier task, on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.avalanche_callbacks import EWC  # Avalanche loads only when a run uses it

    return [EWC(config["ewc_lambda"], mode="separate")]


STRATEGY = method_strategy(
    name="ewc",
    description="EWC, a penalty per earlier task (Avalanche's EWCPlugin), lambda 1, on --set optimizer (adamw)",
    defaults={"ewc_lambda": Setting(1.0, "strength of the penalty (Avalanche's continual-learning-baselines, ewc_pmnist)", within="[0, inf)")},
    make_callbacks=make_callbacks,
)
