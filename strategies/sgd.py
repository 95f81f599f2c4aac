"""SGD with momentum on backbone and head."""

from torch.optim import SGD

from clbench.strategy import Strategy, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    return SGD(trainable_parameters(backbone, head), lr=lr, momentum=config["momentum"],
               weight_decay=config["weight_decay"], nesterov=config["nesterov"])


STRATEGY = Strategy(
    name="sgd",
    description="SGD with momentum 0.9 (torch.optim.SGD)",
    defaults={"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False},
    make_optimizer=make_optimizer,
)
