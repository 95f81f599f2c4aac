"""EWC (Kirkpatrick et al. 2017) with a separate penalty per earlier task, on any optimizer strategy."""

from clbench.methods.avalanche_plugins import EWC
from clbench.methods.compose import method_strategy

STRATEGY = method_strategy(
    name="ewc",
    description="EWC, a penalty per earlier task (Avalanche's EWCPlugin), lambda 1, on --set optimizer (adamw)",
    defaults={"ewc_lambda": 1.0},  # Avalanche's continual-learning-baselines (ewc_pmnist)
    make_plugins=lambda config: [EWC(config["ewc_lambda"], mode="separate")],
)
