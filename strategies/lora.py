"""LoRA (Hu et al. 2021) through the peft library: each task trains fresh low-rank adapters on the
backbone's dense convolutions and linear layers (AdamW on the adapters and the task's head), merged
into the weights when the task ends, so that every task's change to a layer is of low rank.

Adapted: every nn.Linear and every nn.Conv2d with groups == 1 (on EfficientNet-Lite the stem, the
1x1 expansions and projections and the head convolution). Depthwise and other grouped convolutions
stay frozen, as do norm layers and biases: peft refuses a grouped convolution unless the rank is a
multiple of its groups. With rank 0 (the default) each layer gets the rank whose adapter holds
about `density` of its weights (r = density x in x out x k^2 / (in x k^2 + out), at least 1), so
the adapters hold about as many parameters as NanoAdam updates at the same density; lora_alpha is
the rank, a scale of 1.
"""

from clbench.settings import Setting
from clbench.strategy import Strategy, adam_settings
from clbench_strategies.adamw import make_optimizer  # AdamW on what trains: the adapters and the head


def make_callbacks(config):
    from clbench.methods.lora import LoraAdapters  # Avalanche and peft load only when a run uses them

    return [LoraAdapters(config)]


STRATEGY = Strategy(
    name="lora",
    description="LoRA (peft) on the backbone's linear and ungrouped conv layers, merged after each task; "
                "ranks hold ~density of each layer's weights",
    defaults={
        **adam_settings(1e-3),
        "density": Setting(0.01, "with rank 0: each layer's rank holds about this share of its weights",
                           within="(0, 1]"),
        "rank": Setting(0, "the adapters' rank; 0: from density", within="[0, inf)"),
        "dropout": Setting(0.0, "dropout on the adapters' input", within="[0, 1)"),
    },
    make_optimizer=make_optimizer,
    make_callbacks=make_callbacks,
)
