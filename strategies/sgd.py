"""SGD with momentum on backbone and head."""

from torch.optim import SGD

from clbench.settings import Setting, learning_rate
from clbench.strategy import Strategy, trainable_parameters


def make_optimizer(backbone, head, lr, config):
    return SGD(trainable_parameters(backbone, head), lr=lr, momentum=config["momentum"],
               weight_decay=config["weight_decay"], nesterov=config["nesterov"])


STRATEGY = Strategy(
    name="sgd",
    description="SGD with momentum 0.9 (torch.optim.SGD)",
    defaults={
        "lr": learning_rate(0.01),
        "momentum": Setting(0.9, "momentum factor", within="[0, 1)"),
        "weight_decay": Setting(0.0, "L2 penalty (coupled, as torch.optim.SGD's)", within="[0, inf)"),
        "nesterov": Setting(False, "Nesterov momentum"),
    },
    make_optimizer=make_optimizer,
)
