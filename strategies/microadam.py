"""MicroAdam: top-k gradients with 4-bit error feedback and a window of 10 sparse gradients."""

import torch

from clbench.optim import MicroAdam
from clbench.quiet import import_quietly
from clbench.strategy import Strategy, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    params = trainable_parameters(backbone, head)
    options = dict(lr=lr, betas=(config["beta1"], config["beta2"]), weight_decay=config["weight_decay"])
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
        "lr": 1e-4,
        "density": 0.01,
        "window": 10,
        "block_size": 2**15,
        "quant_block_size": 100_000,
        "weight_decay": 0.0,
        "beta1": 0.9,
        "beta2": 0.999,
        "official": False,  # true: the ista-daslab-optimizers CUDA package (GPU, bf16 model)
    },
    make_optimizer=make_optimizer,
    prepare_model=prepare_model,
)
