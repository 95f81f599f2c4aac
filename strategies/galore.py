"""GaLore: Adam in a rank-256 projection of the backbone's weight matrices (galore-torch)."""

from clbench.strategy import Strategy


def make_optimizer(backbone, head, lr, config):
    from clbench.optim.galore import GaLoreAdamW, galore_param_groups  # imports galore-torch: only when used

    groups = galore_param_groups(backbone, rank=config["rank"], update_proj_gap=config["update_proj_gap"],
                                 scale=config["scale"], proj_type=config["proj_type"],
                                 extra_dense=head.parameters())
    return GaLoreAdamW(groups, lr=lr, betas=(config["beta1"], config["beta2"]), weight_decay=config["weight_decay"])


STRATEGY = Strategy(
    name="galore",
    description="GaLore (arXiv 2403.03507) via galore-torch: rank 256, projection every 200 steps, scale 1",
    defaults={
        "lr": 1e-4,
        "rank": 256,
        "update_proj_gap": 200,
        "scale": 1.0,
        "proj_type": "std",
        "weight_decay": 0.0,
        "beta1": 0.9,
        "beta2": 0.999,
    },
    make_optimizer=make_optimizer,
)
