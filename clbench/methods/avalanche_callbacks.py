"""Avalanche's EWC, SI, MAS and LwF callbacks, unchanged in what they compute, with their state for
checkpoints (clbench.methods.state), the adjustments a task-incremental model with one head per
task needs, and two fixes of side effects (SI's copies on the CPU, MAS's BatchNorm statistics)."""

from __future__ import annotations

import copy

import torch
from avalanche.training.plugins import EWCPlugin, LwFPlugin, MASPlugin, SynapticIntelligencePlugin

from clbench.methods.state import model_device, param_data, param_tensors


class EWC(EWCPlugin):
    """Elastic weight consolidation (Kirkpatrick et al. 2017): "separate" keeps every earlier task's
    Fisher information and weights, "online" one decayed sum (Schwarz et al. 2018)."""

    def state_dict(self) -> dict:
        return {"saved_params": {task: param_tensors(p) for task, p in self.saved_params.items()},
                "importances": {task: param_tensors(p) for task, p in self.importances.items()}}

    def load_state_dict(self, state: dict, model) -> None:
        device = model_device(model)
        for attribute in ("saved_params", "importances"):
            stored = getattr(self, attribute)
            stored.clear()
            stored.update({task: param_data(p, device) for task, p in state[attribute].items()})


class SI(SynapticIntelligencePlugin):
    """Synaptic intelligence (Zenke et al. 2017) on the backbone. The heads are left out: an earlier
    task's head never trains again here, and Avalanche's SI reads the gradient of every parameter
    it covers, which the heads of other tasks do not have.

    Avalanche keeps the weights before each step and at the start of each task as
    `param.detach().cpu().flatten()`, which on the CPU is the parameter itself, not a copy: the
    optimizer's step then moves the "old" weights too, every path integral is 0 and so is the
    penalty. Those two are copied here after Avalanche takes them."""

    def __init__(self, si_lambda: float, eps: float):
        super().__init__(si_lambda=si_lambda, eps=eps, excluded_parameters=["heads"])
        self._task = None  # the task whose path integral the state holds, while it trains
        self._resumed_task = None

    def before_training_exp(self, strategy, **kwargs):
        if self._resumed_task == strategy.clock.train_exp_counter:
            self._resumed_task = None  # resumed inside this task: its path integral so far is restored
            return
        super().before_training_exp(strategy, **kwargs)
        _own_copies(self.ewc_data[0], strategy.model)
        self._task = strategy.clock.train_exp_counter

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        _own_copies(self.syn_data["old_theta"], strategy.model)

    def after_training_exp(self, strategy, **kwargs):
        super().after_training_exp(strategy, **kwargs)
        self._task = None

    def state_dict(self) -> dict:
        return {"task": self._task, "ewc_data": [param_tensors(d) for d in self.ewc_data],
                "syn_data": {key: param_tensors(d) for key, d in self.syn_data.items()}}

    def load_state_dict(self, state: dict, model) -> None:
        # SI keeps its copies on the CPU, whatever the training device
        self.ewc_data = tuple(param_data(d, "cpu") for d in state["ewc_data"])
        self.syn_data = {key: param_data(d, "cpu") for key, d in state["syn_data"].items()}
        self._task = self._resumed_task = state["task"]


def _own_copies(params: dict, model) -> None:
    """Replace every tensor of Avalanche's {name: ParamData} that shares memory with a model
    parameter by a copy of it."""
    shared = {p.untyped_storage().data_ptr() for p in model.parameters()}
    for data in params.values():
        if data.data.untyped_storage().data_ptr() in shared:
            data.data = data.data.clone()


class MAS(MASPlugin):
    """Memory aware synapses (Aljundi et al. 2018): importance from the gradient of the outputs' norm.

    Avalanche measures it with the model in training mode over the task's training data, which would
    also move BatchNorm's running statistics by one more epoch of that data: they are put back, so
    that the measurement leaves the model as it found it."""

    def _get_importance(self, strategy):
        model = strategy.model
        kept = {name: buffer.clone() for name, buffer in model.named_buffers()}
        try:
            return super()._get_importance(strategy)
        finally:
            with torch.no_grad():
                for name, buffer in model.named_buffers():
                    buffer.copy_(kept[name])

    def state_dict(self) -> dict:
        return {"params": param_tensors(self.params), "importance": param_tensors(self.importance)}

    def load_state_dict(self, state: dict, model) -> None:
        device = model_device(model)
        self.params = param_data(state["params"], device)
        self.importance = param_data(state["importance"], device)


class LwF(LwFPlugin):
    """Learning without forgetting (Li & Hoiem 2016): the previous model's outputs on every earlier
    task's own head are distilled into the current model's.

    The previous model predicts in evaluation mode, as the paper records its responses once before
    training: Avalanche's copy stays in training mode, where BatchNorm would normalise with the
    current batch's statistics and update its own running statistics on the new task's data."""

    def after_training_exp(self, strategy, **kwargs):
        super().after_training_exp(strategy, **kwargs)
        self.lwf.prev_model.eval()

    def state_dict(self) -> dict:
        previous = self.lwf.prev_model
        return {"prev_model": None if previous is None else previous.state_dict(), "expcount": self.lwf.expcount,
                "prev_classes": {task: sorted(classes) for task, classes in self.lwf.prev_classes_by_task.items()}}

    def load_state_dict(self, state: dict, model) -> None:
        previous = None
        if state["prev_model"] is not None:
            previous = copy.deepcopy(model).eval()
            previous.load_state_dict(state["prev_model"])
        self.lwf.prev_model, self.lwf.expcount = previous, state["expcount"]
        self.lwf.prev_classes_by_task.clear()
        self.lwf.prev_classes_by_task.update({task: set(c) for task, c in state["prev_classes"].items()})
