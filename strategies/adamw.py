"""Dense AdamW on the backbone and the current task's head: the baseline."""

from torch.optim import AdamW

from clbench.strategy import Strategy, adam_options, adam_settings, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    return AdamW(trainable_parameters(backbone, head), lr=lr, **adam_options(config))


STRATEGY = Strategy(
    name="adamw",
    description="dense AdamW (torch.optim.AdamW) on backbone and head, the baseline",
    defaults=adam_settings(1e-4),
    make_optimizer=make_optimizer,
)
