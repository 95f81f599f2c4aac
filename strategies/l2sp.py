"""L2-SP (Li et al. 2018): a penalty on the distance to the pretrained backbone, on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.l2sp import L2SP  # Avalanche loads only when a run uses it

    return [L2SP(config["l2sp_alpha"], config["l2sp_beta"])]


STRATEGY = method_strategy(
    name="l2sp",
    description="L2-SP: alpha/2 |w - w_pretrained|^2 (alpha 0.1), beta/2 |head|^2 (beta 0.01), on --set optimizer",
    defaults={"l2sp_alpha": Setting(0.1, "alpha: pull of the backbone to its pretrained weights (the paper's)", within="[0, inf)"),
              "l2sp_beta": Setting(0.01, "beta: L2 penalty on the head (the paper's)", within="[0, inf)")},
    make_callbacks=make_callbacks,
)
