"""Splitting a model into the tensors a sparse optimizer masks and those it trains densely."""

from __future__ import annotations

from fnmatch import fnmatchcase

from torch import nn

# Module classes (or any of their base classes) whose names match are trained densely: BatchNorm*,
# LayerNorm, GroupNorm, timm's BatchNormAct2d, RmsNorm, ...
DENSE_MODULE_TYPES = ("*Norm*",)
# Parameter names (as in model.named_parameters()) trained densely: the usual classifier heads.
DENSE_PARAM_NAMES = ("head.*", "heads.*", "fc.*", "classifier.*")


def split_masked_dense(
    model: nn.Module,
    dense_types: tuple[str, ...] = DENSE_MODULE_TYPES,
    dense_names: tuple[str, ...] = DENSE_PARAM_NAMES,
    mask_biases: bool = False,
) -> tuple[list, list]:
    """(masked, dense) lists of the model's trainable parameters. Dense: parameters of modules whose
    class name matches a `dense_types` glob, parameters whose name matches a `dense_names` glob,
    and biases unless `mask_biases`. Everything else is masked."""
    masked, dense = [], []
    for module_name, module in model.named_modules():
        class_names = [cls.__name__ for cls in type(module).__mro__]
        dense_module = any(fnmatchcase(c, pattern) for c in class_names for pattern in dense_types)
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            full_name = f"{module_name}.{name}" if module_name else name
            is_dense = (dense_module or any(fnmatchcase(full_name, pattern) for pattern in dense_names)
                        or (name == "bias" and not mask_biases))
            (dense if is_dense else masked).append(param)
    return masked, dense


def masked_param_groups(model: nn.Module, extra_dense: list | None = None, **split_options) -> list[dict]:
    """Parameter groups for NanoAdam: {"masked": True} and {"masked": False} (plus `extra_dense`,
    e.g. a task head kept outside the model); empty groups are left out."""
    masked, dense = split_masked_dense(model, **split_options)
    groups = [{"params": masked, "masked": True}, {"params": dense + list(extra_dense or []), "masked": False}]
    return [group for group in groups if group["params"]]


def parse_patterns(text: str) -> tuple[str, ...]:
    """'a, b*' -> ('a', 'b*'): glob lists as given with --set."""
    return tuple(part.strip() for part in text.split(",") if part.strip())
