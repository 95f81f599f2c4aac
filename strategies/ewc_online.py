"""Online EWC (Schwarz et al. 2018): one running Fisher penalty, decayed per task, on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.avalanche_callbacks import EWC  # Avalanche loads only when a run uses it

    return [EWC(config["ewc_lambda"], mode="online", decay_factor=config["decay_factor"])]


STRATEGY = method_strategy(
    name="ewc_online",
    description="online EWC, one decayed penalty (Avalanche's EWCPlugin), lambda 1, decay 0.1, on --set optimizer",
    defaults={"ewc_lambda": Setting(1.0, "strength of the penalty, as ewc's", within="[0, inf)"),
              "decay_factor": Setting(0.1, "decay of the running importance per task (Avalanche's online-EWC example)", within="[0, 1]")},
    make_callbacks=make_callbacks,
)
