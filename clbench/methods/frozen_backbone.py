"""The frozen strategy's callback: the backbone stays in evaluation mode while the heads train."""

from avalanche.training.plugins import SupervisedPlugin


class BackboneInEvaluationMode(SupervisedPlugin):
    """The backbone runs as when evaluated while heads train: BatchNorm keeps its running statistics."""

    def before_training_epoch(self, strategy, **kwargs):
        strategy.model.backbone.eval()
