"""Resolving a run's configuration: defaults of the engine, stream and strategy, then --set."""

from __future__ import annotations

import math

from clbench.assignments import per_task_texts, split_assignment
from clbench.errors import UsageError
from clbench.methods.compose import chosen_optimizer, is_method, method_defaults
from clbench.presets import paper_preset
from clbench.registry import closest, plugin_hashes
from clbench.strategy import Strategy
from clbench.streams import StreamSpec

RUN_DEFAULTS = {
    "epochs": 3,
    "batch_size": 64,
    "eval_batch_size": 256,
    # Keep BatchNorm running statistics at their pretrained values while training (default: update them).
    "freeze_norm_stats": False,
    # Backbone weights file (safetensors or a torch state dict); empty: the backbone's own pretrained weights.
    "weights": "",
    "label_smoothing": 0.0,
    "lr_schedule": "constant",  # or "cosine": cosine decay to 0 over each task's steps
    "augment": False,  # random horizontal flips and shifts of training batches, on the device
    # On CUDA only: bf16 autocast and channels-last memory format.
    "amp": True,
    "channels_last": True,
    # Share of every class of every task's training subset held out for validation, drawn with a seed
    # fixed per stream: tuning and every other choice look at validation accuracy, never at test accuracy.
    "val_fraction": 0.1,
    # Draw the data subsets and the validation split with the run seed too, so that intervals over
    # seeds include data sampling (default: the same data for every seed).
    "resample_data": False,
    "preset": "",  # set to "paper" when the paper's settings were applied (see clbench.presets)
    # > 0: every task's head trains with its own torch AdamW at this lr and the strategy's optimizer
    # moves only the backbone, so that strategies compared with one head_lr train their heads alike;
    # 0: the strategy's optimizer trains the head too, at the task's lr
    "head_lr": 0.0,
    # Steps between reads of the device-side divergence flags (also read at each epoch's end): a
    # step never waits for the device, and a diverged run still names its first non-finite step.
    "divergence_check_every": 20,
    # torch.compile the backbone (nn.Module.compile: parameter names and checkpoints stay as they are);
    # each new input shape and train/eval mode compiles once, which the first steps pay for
    "compile": False,
}

LR_SCHEDULES = ("constant", "cosine")

# --smoke: the same pipeline on tiny subsets for one epoch (images of 32 px, or texts of 16 tokens).
SMOKE_OVERRIDES = {"epochs": 1, "train_per_class": 6, "test_per_class": 4, "image_size": 32, "max_tokens": 16}

# Keys whose value may be given per task ("1e-3,2e-3"); they resolve to a list with one entry per task.
PER_TASK_KEYS = ("lr",)

# Integer settings that must be at least 1.
_POSITIVE_INTS = ("epochs", "batch_size", "eval_batch_size", "divergence_check_every")
# Integer settings where 0 means "the natural value": the backbone's input size, every example.
_NON_NEGATIVE_INTS = ("image_size", "train_per_class", "test_per_class")


def resolve_config(stream: StreamSpec, strategy: Strategy, assignments: list[str], smoke: bool = False,
                   backbone: str = "") -> dict:
    """Every hyperparameter of the run, typed and validated: defaults of the engine, stream and
    strategy, the stream's settings for the strategy, the paper's preset when the combination is one
    of its runs, --smoke, then --set. Raises UsageError on a bad --set."""
    config = {**RUN_DEFAULTS, **stream.defaults()}
    # a method (ewc, replay, ...) trains with an optimizer strategy: its settings and the stream's for it
    if is_method(strategy):
        optimizer = chosen_optimizer(strategy, assignments)
        defaults, trained_by = method_defaults(strategy, optimizer), [optimizer, strategy]
    else:
        defaults, trained_by = strategy.defaults, [strategy]
    clash = set(config) & set(defaults)
    if clash:
        raise RuntimeError(f"strategy {strategy.name!r} redefines run settings {sorted(clash)}")
    config.update(defaults)
    for named in trained_by:
        own = stream.strategy_settings.get(named.name, {})
        if set(own) - set(named.defaults):
            raise RuntimeError(f"stream {stream.name!r} sets {sorted(set(own) - set(named.defaults))}, "
                               f"which strategy {named.name!r} does not have")
        # a control takes the settings the stream gives the strategy it controls, where it has them
        inherited = {key: value for key, value in stream.strategy_settings.get(named.variant_of, {}).items()
                     if key in named.defaults}
        config.update({**inherited, **own})
    preset = paper_preset(stream.name, backbone, strategy.variant_of or strategy.name)
    if preset:
        config.update({key: value for key, value in preset.items() if key in config}, preset="paper")
    if smoke:
        config.update({key: value for key, value in SMOKE_OVERRIDES.items() if key in config})
    num_tasks = len(stream.tasks)

    for assignment in assignments:
        key, text = split_assignment(assignment)
        if key not in config:
            raise UsageError(f"unknown --set key {key!r}; {closest(key, config)}")
        config[key] = _parse(key, text, config[key], num_tasks)

    for key in PER_TASK_KEYS:
        if key in config and not isinstance(config[key], list):
            config[key] = [config[key]] * num_tasks
        if key in config and len(config[key]) != num_tasks:
            raise UsageError(f"{key} has {len(config[key])} values for {num_tasks} tasks; set one per task with --set")
    for key in _POSITIVE_INTS:
        if config[key] < 1:
            raise UsageError(f"--set {key}={config[key]} is out of range; it must be at least 1")
    if config["lr_schedule"] not in LR_SCHEDULES:
        raise UsageError(f"--set lr_schedule={config['lr_schedule']} is unknown; use one of {', '.join(LR_SCHEDULES)}")
    if not 0 <= config["label_smoothing"] < 1:
        raise UsageError(f"--set label_smoothing={config['label_smoothing']} is out of range; it must be in [0, 1)")
    if config["head_lr"] < 0:
        raise UsageError(f"--set head_lr={config['head_lr']} is out of range; it must be 0 (the strategy's) or more")
    if not 0 <= config["val_fraction"] < 1:
        raise UsageError(f"--set val_fraction={config['val_fraction']} is out of range; it must be in [0, 1)")
    for key in _NON_NEGATIVE_INTS:
        if config.get(key, 0) < 0:
            raise UsageError(f"--set {key}={config[key]} is out of range; it must be 0 (all / the backbone's) or more")
    if config.get("max_tokens", 3) < 3:
        raise UsageError(f"--set max_tokens={config['max_tokens']} is too few; a text needs at least 3 tokens "
                         "(with the tokenizer's start and end tokens)")
    if "max_tokens" in config and config["augment"]:
        raise UsageError("--set augment=true flips and shifts images; a text stream has none, so leave it false")
    if hashes := plugin_hashes(stream, *trained_by):
        config["plugin_sha256"] = hashes  # part of the record's name: an edited plugin file is another run
    return config


def _parse(key: str, text: str, default, num_tasks: int):
    if key in PER_TASK_KEYS:
        values = [_parse_scalar(key, part, float) for part in per_task_texts(text)]
        if len(values) not in (1, num_tasks):
            raise UsageError(f"--set {key}={text} gives {len(values)} values; give 1 or one per task ({num_tasks})")
        if any(v <= 0 for v in values):
            raise UsageError(f"--set {key}={text} must be positive")
        return values if len(values) > 1 else values[0]
    return _parse_scalar(key, text, type(default))


def _parse_scalar(key: str, text: str, kind: type):
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
    else:
        try:
            value = kind(text)
        except ValueError:
            pass
        else:
            if kind is not float or math.isfinite(value):
                return value
    raise UsageError(f"--set {key}={text!r} is not a valid {kind.__name__}")
