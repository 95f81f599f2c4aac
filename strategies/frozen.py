"""The frozen backbone: only the heads train, so nothing is forgotten, by construction (the floor of
forgetting, and of what the backbone can learn)."""

from avalanche.training.plugins import SupervisedPlugin

from clbench.methods.compose import method_strategy


class BackboneInEvaluationMode(SupervisedPlugin):
    """The backbone runs as when evaluated while heads train: BatchNorm keeps its running statistics."""

    def before_training_epoch(self, strategy, **kwargs):
        strategy.model.backbone.eval()


def freeze_backbone(model, config):
    model.backbone.requires_grad_(False)


STRATEGY = method_strategy(
    name="frozen",
    description="frozen pretrained backbone, only the task heads train (with --set optimizer): zero forgetting",
    defaults={},
    make_plugins=lambda config: [BackboneInEvaluationMode()],
    prepare_model=freeze_backbone,
)
