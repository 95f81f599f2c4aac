"""GaLore: Adam in a rank-256 projection of the backbone's weight matrices (galore-torch)."""

from clbench.settings import Setting
from clbench.strategy import Strategy, adam_options, adam_settings


def make_optimizer(backbone, head, lr, config):
    from clbench.optim.galore import GaLoreAdamW, galore_param_groups  # imports galore-torch: only when used

    groups = galore_param_groups(backbone, rank=config["rank"], update_proj_gap=config["update_proj_gap"],
                                 scale=config["scale"], proj_type=config["proj_type"],
                                 extra_dense=head.parameters())
    return GaLoreAdamW(groups, lr=lr, **adam_options(config))


STRATEGY = Strategy(
    name="galore",
    description="GaLore (arXiv 2403.03507) via galore-torch: rank 256, projection every 200 steps, scale 1",
    defaults={
        **adam_settings(1e-4),
        "rank": Setting(256, "rank of the gradient projection", within="[1, inf)"),
        "update_proj_gap": Setting(200, "steps between projection updates", within="[1, inf)"),
        "scale": Setting(1.0, "scale of the projected update", within="(0, inf)"),
        "proj_type": Setting("std", "galore-torch's projection type",
                             choices=("std", "reverse_std", "right", "left", "full")),
    },
    make_optimizer=make_optimizer,
)
