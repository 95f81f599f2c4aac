"""AdamW with block-wise 8-bit moments (bitsandbytes)."""

from clbench.quiet import import_quietly
from clbench.strategy import Strategy, adam_options, adam_settings, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    bitsandbytes = import_quietly("bitsandbytes", "bitsandbytes")
    return bitsandbytes.optim.AdamW8bit(trainable_parameters(backbone, head), lr=lr, **adam_options(config))


STRATEGY = Strategy(
    name="adamw8bit",
    description="AdamW-8bit (bitsandbytes): block-wise 8-bit quantised moments",
    defaults=adam_settings(1e-4),
    make_optimizer=make_optimizer,
)
