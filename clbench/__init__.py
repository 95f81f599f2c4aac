"""clbench: a continual-learning benchmark for optimizers on pretrained backbones."""

__version__ = "0.1.0"
