"""The frozen backbone: only the heads train, so nothing is forgotten, by construction (the floor of
forgetting, and of what the backbone can learn)."""

from clbench.methods.compose import method_strategy


def make_callbacks(config):
    from clbench.methods.frozen_backbone import BackboneInEvaluationMode  # Avalanche loads only when used

    return [BackboneInEvaluationMode()]


def freeze_backbone(model, config):
    model.backbone.requires_grad_(False)


STRATEGY = method_strategy(
    name="frozen",
    description="frozen pretrained backbone, only the task heads train (with --set optimizer): zero forgetting",
    defaults={},
    make_callbacks=make_callbacks,
    prepare_model=freeze_backbone,
)
