"""NanoAdam: Adam on the smallest-magnitude backbone weights; head, norm layers and biases dense."""

from functools import partial

import torch

from clbench.optim import NanoAdam
from clbench.optim.param_groups import masked_param_groups, parse_patterns, split_masked_dense
from clbench.strategy import Strategy


def param_groups(backbone, head, config) -> list[dict]:
    """The masked and the dense group (the head among the dense) as the settings split the backbone."""
    dense = {"dense_types": parse_patterns(config["dense_types"]), "dense_names": parse_patterns(config["dense_names"])}
    if config["mask_biases"] and _masked_count(backbone, dense, True) == _masked_count(backbone, dense, False):
        raise ValueError("mask_biases=true changes nothing on this backbone: every bias it has is in a layer that "
                         "trains densely (norms, dense_names), so leave mask_biases false")
    return masked_param_groups(backbone, extra_dense=head.parameters(), mask_biases=config["mask_biases"], **dense)


def make_optimizer(backbone, head, lr, config):
    groups = param_groups(backbone, head, config)
    if config["dense_lr"] < 0:
        raise ValueError(f"dense_lr must be non-negative (0: the task's lr), got dense_lr={config['dense_lr']}")
    for group in groups:
        if not group["masked"] and config["dense_lr"]:
            group["lr"] = config["dense_lr"]
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
        state_dtype=_dtype("state_dtype", config),
        v_dtype=_dtype("v_dtype", config),
        seed=random_mask_seed(config),
    )


def _masked_count(backbone, dense: dict, mask_biases: bool) -> int:
    return len(split_masked_dense(backbone, mask_biases=mask_biases, **dense)[0])


def random_mask_seed(config) -> int:
    """The seed of criterion=random's masks: its own for every run seed and task, so that a task
    does not update the weights the previous one did, nor one run seed the weights another did."""
    return hash((config["mask_seed"], config["run_seed"], config["task"])) % 2**63


def _dtype(key: str, config) -> torch.dtype:
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if config[key] not in dtypes:
        raise ValueError(f"{key} must be one of {', '.join(dtypes)}, got {key}={config[key]!r}")
    return dtypes[config[key]]


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
        "state_dtype": "bfloat16",  # m, as in the paper
        "v_dtype": "float32",  # v: in bf16 (the paper's) 0.999 v rounds back to v, and v cannot decay
        "mask_seed": 0,  # criterion=random: its masks depend on this, the run's seed and the task
        "weight_decay": 0.0,
        "beta1": 0.9,
        "beta2": 0.999,
        # Head, normalisation layers and biases train densely (Adam on every entry) at dense_lr; 0: at
        # the task's lr, as in the paper, which gives one learning rate per task and names no other.
        "dense_lr": 0.0,
        "mask_biases": False,  # true: biases are masked like weights (the paper names only heads and norms dense)
        "dense_types": "*Norm*",  # module class-name globs trained densely
        "dense_names": "",  # parameter-name globs trained densely (the task head always is)
    },
    make_optimizer=make_optimizer,
)


def mask_control(name: str, criterion: str, description: str, once_per_task: bool = False) -> Strategy:
    """NanoAdam with its masks chosen by `criterion` instead of the smallest weights, everything else
    (density, refresh schedule, dense parameters, the stream's settings for NanoAdam) as NanoAdam's.
    The criterion is fixed, not a setting, so that the control's records carry its own name.
    once_per_task: the mask is drawn at the task's first step and kept (no mask_interval setting)."""
    left_out = ("criterion", "mask_interval") if once_per_task else ("criterion",)
    defaults = {key: value for key, value in STRATEGY.defaults.items() if key not in left_out}
    return Strategy(name=name, description=description, defaults=defaults,
                    make_optimizer=partial(_make_with_criterion, criterion, once_per_task), variant_of=STRATEGY.name)


def _make_with_criterion(criterion: str, once_per_task: bool, backbone, head, lr, config):
    fixed = {"mask_interval": config["task_steps"]} if once_per_task else {}
    return make_optimizer(backbone, head, lr, {**config, "criterion": criterion, **fixed})
