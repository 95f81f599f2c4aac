"""Control for NanoAdam: its dense parts alone. Heads, normalisation layers and biases train with Adam
as under NanoAdam (same lr, betas, weight decay and dense/masked split); the weights NanoAdam would
mask never move. The floor of what NanoAdam's mask adds."""

from clbench.optim import NanoAdam
from clbench.strategy import Strategy, adam_options
from clbench_strategies.nanoadam import STRATEGY as NANOADAM
from clbench_strategies.nanoadam import param_groups

SETTINGS = ("lr", "weight_decay", "beta1", "beta2", "mask_biases", "dense_types", "dense_names")


def make_optimizer(backbone, head, lr, config):
    dense = [group for group in param_groups(backbone, head, config) if not group["masked"]]
    if not dense:
        raise ValueError("nothing trains: the backbone has no dense part and the head is missing")
    return NanoAdam(dense, lr=lr, **adam_options(config))


STRATEGY = Strategy(
    name="dense_only",
    description="control for NanoAdam: only its dense parts train (heads, norms, biases); masked weights never move",
    defaults={key: NANOADAM.settings[key] for key in SETTINGS},
    make_optimizer=make_optimizer,
    variant_of=NANOADAM.name,
)
