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

from clbench.strategy import Strategy
from clbench_strategies.adamw import make_optimizer  # AdamW on what trains: the adapters and the head


def make_plugins(config):
    from clbench.methods.lora import LoraAdapters  # Avalanche and peft load only when a run uses them

    return [LoraAdapters(config)]


def check_settings(model, config):
    if config["rank"] < 0 or not 0 < config["density"] <= 1:
        raise ValueError(f"rank must be 0 (from density) or more and density in (0, 1], got rank={config['rank']}, "
                         f"density={config['density']}")


STRATEGY = Strategy(
    name="lora",
    description="LoRA (peft) on the backbone's linear and ungrouped conv layers, merged after each task; "
                "ranks hold ~density of each layer's weights",
    defaults={"lr": 1e-3, "density": 0.01, "rank": 0, "dropout": 0.0, "weight_decay": 0.0, "beta1": 0.9,
              "beta2": 0.999},
    make_optimizer=make_optimizer,
    make_plugins=make_plugins,
    prepare_model=check_settings,
)
