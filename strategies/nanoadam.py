"""NanoAdam: Adam on the smallest-magnitude backbone weights; head and norm layers dense."""

from clbench.optim import NanoAdam
from clbench.optim.param_groups import split_masked_dense
from clbench.strategy import Strategy


def make_optimizer(backbone, head, lr, config):
    masked, dense = split_masked_dense(backbone, mask_biases=config["mask_biases"])
    groups = [{"params": masked, "masked": True}, {"params": dense + list(head.parameters()), "masked": False}]
    return NanoAdam(
        [g for g in groups if g["params"]],
        lr=lr,
        betas=(config["beta1"], config["beta2"]),
        weight_decay=config["weight_decay"],
        density=config["density"],
        mask_interval=config["mask_interval"],
        bias_correction=config["bias_correction"],
    )


STRATEGY = Strategy(
    name="nanoadam",
    description="NanoAdam (arXiv 2506.21374): Adam on the 1% smallest weights per layer, mask every 100 steps",
    defaults={
        "lr": 1e-3,
        "density": 0.01,
        "mask_interval": 100,
        "weight_decay": 0.0,
        "beta1": 0.9,
        "beta2": 0.999,
        "bias_correction": True,
        "mask_biases": False,
    },
    make_optimizer=make_optimizer,
)
