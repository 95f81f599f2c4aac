"""L2-SP (Li, Grandvalet & Davoine, ICML 2018, arXiv 1802.01483): fine-tuning pulled towards the
pretrained weights. Avalanche has no implementation."""

from __future__ import annotations

import torch
from avalanche.training.plugins import SupervisedPlugin

from clbench.methods.state import model_device


class L2SP(SupervisedPlugin):
    """Adds alpha/2 * ||w - w0||^2 over the backbone's trainable weights w, w0 their values before the
    first task (the pretrained weights), and beta/2 * ||h||^2 over the training task's head h (the
    paper's weight decay on the new layers)."""

    def __init__(self, alpha: float, beta: float):
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.start: dict[str, torch.Tensor] | None = None

    def before_training_exp(self, strategy, **kwargs):
        if self.start is None:
            self.start = {name: p.detach().clone() for name, p in strategy.model.backbone.named_parameters()}

    def before_backward(self, strategy, **kwargs):
        backbone = [(p - self.start[name]).pow(2).sum()
                    for name, p in strategy.model.backbone.named_parameters() if p.requires_grad]
        head = strategy.model.heads[strategy.experience.current_experience]
        penalty = self.alpha / 2 * torch.stack(backbone).sum() if backbone else 0.0
        strategy.loss += penalty + self.beta / 2 * sum(p.pow(2).sum() for p in head.parameters())

    def state_dict(self) -> dict:
        return {"start": self.start}

    def load_state_dict(self, state: dict, model) -> None:
        device = model_device(model)
        self.start = None if state["start"] is None else {n: t.to(device) for n, t in state["start"].items()}
