"""Dense AdamW on the backbone and the current task's head: the baseline."""

from torch.optim import AdamW

from clbench.strategy import Strategy, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    return AdamW(trainable_parameters(backbone, head), lr=lr, betas=(config["beta1"], config["beta2"]),
                 weight_decay=config["weight_decay"])


STRATEGY = Strategy(
    name="adamw",
    description="dense AdamW (torch.optim.AdamW) on backbone and head, the baseline",
    defaults={"lr": 1e-4, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999},
    make_optimizer=make_optimizer,
)
