"""MicroAdam: top-k gradients with 4-bit error feedback and a window of 10 sparse gradients."""

import torch

from clbench.optim import MicroAdam
from clbench.quiet import import_quietly
from clbench.settings import Setting
from clbench.strategy import Strategy, adam_options, adam_settings, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    params = trainable_parameters(backbone, head)
    options = dict(lr=lr, **adam_options(config))
    if config["official"]:
        return _official(params, options, config)
    return MicroAdam(params, density=config["density"], window=config["window"], block_size=config["block_size"],
                     quant_block_size=config["quant_block_size"], **options)


def prepare_model(model, config):
    """The official package steps bf16 parameters only and views every gradient flat
    (grad.view(-1)): with official=true the model becomes bf16, in the contiguous memory format."""
    if config["official"]:
        model.to(torch.bfloat16)
        model.to(memory_format=torch.contiguous_format)


def _official(params, options, config):
    """ista-daslab-optimizers' CUDA MicroAdam; it needs a GPU and bf16 parameters."""
    if not torch.cuda.is_available() or any(p.device.type != "cuda" or p.dtype != torch.bfloat16 for p in params):
        raise ValueError("official=true needs a CUDA GPU and a bf16 model; use official=false for clbench's MicroAdam")
    package = import_quietly("ista_daslab_optimizers", "ista-daslab-optimizers")
    return package.MicroAdam(params, m=config["window"], k_init=config["density"],
                             quant_block_size=config["quant_block_size"], **options)


STRATEGY = Strategy(
    name="microadam",
    description="MicroAdam (arXiv 2405.15593): 1% top-k gradients, 4-bit error feedback, window of 10",
    defaults={
        **adam_settings(1e-4),
        "density": Setting(0.01, "share of each gradient's entries kept (top-k)", within="(0, 1]"),
        "window": Setting(10, "sparse gradients kept for the moments", within="[1, inf)"),
        "block_size": Setting(2**15, "entries per top-k block", within="[1, inf)"),
        "quant_block_size": Setting(100_000, "entries per block of the 4-bit error feedback", within="[1, inf)"),
        "official": Setting(False, "the ista-daslab-optimizers CUDA package instead (GPU, bf16 model)"),
    },
    make_optimizer=make_optimizer,
    prepare_model=prepare_model,
)
