"""NanoAdam: Adam on the smallest-magnitude backbone weights; head, norm layers and biases dense."""

import torch

from clbench.optim import NanoAdam
from clbench.optim.param_groups import masked_param_groups, parse_patterns
from clbench.strategy import Strategy


def make_optimizer(backbone, head, lr, config):
    groups = masked_param_groups(
        backbone,
        extra_dense=head.parameters(),
        dense_types=parse_patterns(config["dense_types"]),
        dense_names=parse_patterns(config["dense_names"]),
        mask_biases=config["mask_biases"],
    )
    return NanoAdam(
        groups,
        lr=lr,
        betas=(config["beta1"], config["beta2"]),
        weight_decay=config["weight_decay"],
        density=config["density"],
        density_schedule=config["density_schedule"],
        density_end=config["density_end"] or config["density"],
        density_interval=config["density_interval"],
        total_steps=config["task_steps"],
        mask_interval=config["mask_interval"],
        chunk_size=config["chunk_size"],
        criterion=config["criterion"],
        on_mask_change=config["on_mask_change"],
        bias_correction=config["bias_correction"],
        state_dtype=_state_dtype(config["state_dtype"]),
        seed=config["mask_seed"],
    )


def _state_dtype(name: str) -> torch.dtype:
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if name not in dtypes:
        raise ValueError(f"state_dtype must be one of {', '.join(dtypes)}, got state_dtype={name!r}")
    return dtypes[name]


STRATEGY = Strategy(
    name="nanoadam",
    description="NanoAdam (arXiv 2506.21374): Adam on the 1% smallest weights of each chunk, mask every 100 steps",
    defaults={
        "lr": 1e-3,
        "density": 0.01,
        "density_schedule": "constant",  # or linear (the paper's GLUE default), cosine
        "density_end": 0.0,  # 0: same as density
        "density_interval": 1,
        "mask_interval": 100,
        "chunk_size": 2**15,  # 0: one chunk per tensor
        "criterion": "small",  # or large, random, large_gradient (the paper's ablations)
        "on_mask_change": "reset",  # or keep
        "bias_correction": True,
        "state_dtype": "bfloat16",
        "mask_seed": 0,
        "weight_decay": 0.0,
        "beta1": 0.9,
        "beta2": 0.999,
        "mask_biases": False,
        "dense_types": "*Norm*",  # module class-name globs trained densely
        "dense_names": "",  # parameter-name globs trained densely (the task head always is)
    },
    make_optimizer=make_optimizer,
)
