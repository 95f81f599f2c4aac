"""AdamW with block-wise 8-bit moments (bitsandbytes)."""

from clbench.quiet import import_quietly
from clbench.strategy import Strategy, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    bitsandbytes = import_quietly("bitsandbytes", "bitsandbytes")
    return bitsandbytes.optim.AdamW8bit(trainable_parameters(backbone, head), lr=lr,
                                        betas=(config["beta1"], config["beta2"]), weight_decay=config["weight_decay"])


STRATEGY = Strategy(
    name="adamw8bit",
    description="AdamW-8bit (bitsandbytes): block-wise 8-bit quantised moments",
    defaults={"lr": 1e-4, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999},
    make_optimizer=make_optimizer,
)
