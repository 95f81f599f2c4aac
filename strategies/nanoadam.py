"""NanoAdam: Adam on the smallest-magnitude backbone weights; head, norm layers and biases dense.
Beside it the controls that bracket it (issue 29, 44): the same Adam on as many weights chosen
otherwise (random_mask, large_mask, random_fixed), or on its dense parts alone (dense_only)."""

from functools import partial

import torch

from clbench.optim import NanoAdam
from clbench.optim.param_groups import masked_param_groups, parse_patterns, split_masked_dense
from clbench.settings import Setting
from clbench.strategy import Strategy, adam_options, adam_settings

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def param_groups(backbone, head, config) -> list[dict]:
    """The masked and the dense group (the head among the dense) as the settings split the backbone."""
    dense = {"dense_types": parse_patterns(config["dense_types"]), "dense_names": parse_patterns(config["dense_names"])}
    if config["mask_biases"] and _masked_count(backbone, dense, True) == _masked_count(backbone, dense, False):
        raise ValueError("mask_biases=true changes nothing on this backbone: every bias it has is in a layer that "
                         "trains densely (norms, dense_names), so leave mask_biases false")
    return masked_param_groups(backbone, extra_dense=head.parameters(), mask_biases=config["mask_biases"], **dense)


def make_optimizer(backbone, head, lr, config):
    groups = param_groups(backbone, head, config)
    for group in groups:
        if not group["masked"] and config["dense_lr"]:
            group["lr"] = config["dense_lr"]
    return NanoAdam(
        groups,
        lr=lr,
        density=config["density"],
        density_schedule=config["density_schedule"],
        density_end=config["density_end"] or config["density"],
        density_interval=config["density_interval"],
        total_steps=config.task.steps,
        mask_interval=config["mask_interval"],
        chunk_size=config["chunk_size"],
        criterion=config["criterion"],
        on_mask_change=config["on_mask_change"],
        bias_correction=config["bias_correction"],
        state_dtype=_DTYPES[config["state_dtype"]],
        v_dtype=_DTYPES[config["v_dtype"]],
        seed=random_mask_seed(config),
        **adam_options(config),
    )


def _masked_count(backbone, dense: dict, mask_biases: bool) -> int:
    return len(split_masked_dense(backbone, mask_biases=mask_biases, **dense)[0])


def random_mask_seed(config) -> int:
    """The seed of criterion=random's masks: its own for every run seed and task, so that a task
    does not update the weights the previous one did, nor one run seed the weights another did."""
    return hash((config["mask_seed"], config.task.run_seed, config.task.index)) % 2**63


NANOADAM = Strategy(
    name="nanoadam",
    description="NanoAdam (arXiv 2506.21374): Adam on the 1% smallest weights of each chunk, mask every 100 steps",
    defaults={
        **adam_settings(1e-3),
        "density": Setting(0.01, "share k of each masked tensor that Adam updates", within="(0, 1]"),
        "density_schedule": Setting("constant", "density from density to density_end over the task's steps: "
                                                "constant, linear (the paper's GLUE default) or cosine",
                                    choices=("constant", "linear", "cosine")),
        "density_end": Setting(0.0, "the density a schedule ends at; 0: density", within="[0, 1]"),
        "density_interval": Setting(1, "steps between density changes of a schedule", within="[1, inf)"),
        "mask_interval": Setting(100, "steps between mask refreshes; also refreshed whenever the density changes",
                                 within="[1, inf)"),
        "chunk_size": Setting(2**15, "each tensor, flattened, is cut into chunks of this many entries, each keeping "
                                     "its own bottom-k; 0: one chunk per tensor", within="[0, inf)"),
        "criterion": Setting("small", "which weights the mask selects: small (the paper), or its ablations large, "
                                      "random, large_gradient", choices=("small", "large", "random", "large_gradient")),
        "on_mask_change": Setting("reset", "reset: zero moments when the mask changes; keep: entries that stay "
                                           "selected keep theirs", choices=("reset", "keep")),
        "bias_correction": Setting(True, "Adam's bias correction (the paper's algorithm box shows none)"),
        "state_dtype": Setting("bfloat16", "dtype m is stored in, as in the paper", choices=tuple(_DTYPES)),
        "v_dtype": Setting("float32", "dtype v is stored in: in bf16 (the paper's) 0.999 v rounds back to v, so v "
                                      "cannot decay", choices=tuple(_DTYPES)),
        "mask_seed": Setting(0, "criterion=random: its masks depend on this, the run's seed and the task"),
        "dense_lr": Setting(0.0, "lr of the head, normalisation layers and biases, which train densely; 0: the "
                                 "task's lr, as in the paper", within="[0, inf)"),
        "mask_biases": Setting(False, "mask biases like weights (the paper names only heads and norms dense)"),
        "dense_types": Setting("*Norm*", "module class-name globs trained densely, comma-separated"),
        "dense_names": Setting("", "parameter-name globs trained densely (the task head always is)"),
    },
    make_optimizer=make_optimizer,
)


def mask_control(name: str, criterion: str, description: str, once_per_task: bool = False) -> Strategy:
    """NanoAdam with its masks chosen by `criterion` instead of the smallest weights, everything else
    (density, refresh schedule, dense parameters, the stream's settings for NanoAdam) as NanoAdam's.
    The criterion is fixed, not a setting, so that the control's records carry its own name.
    once_per_task: the mask is drawn at the task's first step and kept (no mask_interval setting)."""
    left_out = ("criterion", "mask_interval") if once_per_task else ("criterion",)
    defaults = {key: setting for key, setting in NANOADAM.settings.items() if key not in left_out}
    return Strategy(name=name, description=description, defaults=defaults,
                    make_optimizer=partial(_make_with_criterion, criterion, once_per_task), variant_of=NANOADAM.name)


def _make_with_criterion(criterion: str, once_per_task: bool, backbone, head, lr, config):
    fixed = {"mask_interval": config.task.steps} if once_per_task else {}
    return make_optimizer(backbone, head, lr, config.replace(criterion=criterion, **fixed))


def make_dense_only_optimizer(backbone, head, lr, config):
    dense = [group for group in param_groups(backbone, head, config) if not group["masked"]]
    if not dense:
        raise ValueError("nothing trains: the backbone has no dense part and the head is missing")
    return NanoAdam(dense, lr=lr, **adam_options(config))


DENSE_ONLY_SETTINGS = ("lr", "weight_decay", "beta1", "beta2", "mask_biases", "dense_types", "dense_names")

STRATEGIES = [
    NANOADAM,
    # as many weights at a time, chosen at random: a new draw at every refresh, task and seed
    mask_control("random_mask", "random", "control for NanoAdam: Adam on the same share of weights chosen at random "
                                          "(new draw each mask, task and seed)"),
    mask_control("large_mask", "large", "control for NanoAdam: Adam on the same share of weights, the "
                                        "largest-magnitude ones of each chunk"),
    # drawn once per task and kept, so that about as many distinct weights move as under NanoAdam (whose
    # small weights stay small, so its masks change little), fewer than under random_mask
    mask_control("random_fixed", "random", "control for NanoAdam: Adam on the same share of weights chosen at random "
                                           "once per task (then kept)", once_per_task=True),
    # heads, norms and biases train as under NanoAdam (same lr, betas, decay and split); the weights it would
    # mask never move: the floor of what its mask adds
    Strategy(name="dense_only", description="control for NanoAdam: only its dense parts train (heads, norms, biases); "
                                            "masked weights never move",
             defaults={key: NANOADAM.settings[key] for key in DENSE_ONLY_SETTINGS},
             make_optimizer=make_dense_only_optimizer, variant_of=NANOADAM.name),
]
