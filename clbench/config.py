"""Resolving a run's configuration: defaults of the engine, stream and strategy, then --set."""

from __future__ import annotations

import math

from clbench.assignments import per_task_texts, split_assignment
from clbench.errors import UsageError
from clbench.methods.compose import OPTIMIZER_KEY, is_method, method_settings, trained_with
from clbench.presets import paper_preset
from clbench.registry import closest, get_strategy, plugin_hashes, strategies
from clbench.settings import PER_TASK_KEYS, Setting
from clbench.strategy import Strategy
from clbench.streams import StreamSpec

RUN_SETTINGS = {
    "epochs": Setting(3, "passes over each task's training data", within="[1, inf)"),
    "batch_size": Setting(64, "training batch size", within="[1, inf)"),
    "eval_batch_size": Setting(256, "batch size of evaluation", within="[1, inf)"),
    "freeze_norm_stats": Setting(False, "keep BatchNorm running statistics at their pretrained values while "
                                        "training (default: update them)"),
    "weights": Setting("", "backbone weights file (safetensors or a torch state dict); empty: the backbone's "
                           "own pretrained weights"),
    "label_smoothing": Setting(0.0, "label smoothing of the training loss", within="[0, 1)"),
    "lr_schedule": Setting("constant", "constant, or cosine decay to 0 over each task's steps",
                           choices=("constant", "cosine")),
    "augment": Setting(False, "random horizontal flips and shifts of training batches, on the device (images)"),
    "amp": Setting(True, "on CUDA only: bf16 autocast"),
    "channels_last": Setting(True, "on CUDA only: channels-last memory format"),
    "val_fraction": Setting(0.1, "share of every class of every task's training subset held out for validation, "
                                 "drawn with a seed fixed per stream: every choice looks at validation accuracy, "
                                 "never at test accuracy", within="[0, 1)"),
    "resample_data": Setting(False, "draw the data subsets and the validation split with the run seed too, so "
                                    "that intervals over seeds include data sampling (default: the same data "
                                    "for every seed)"),
    "preset": Setting("", "set to paper when the paper's settings were applied (clbench.presets)",
                      choices=("", "paper")),
    "head_lr": Setting(0.0, "> 0: every task's head trains with its own torch AdamW at this lr and the "
                            "strategy's optimizer moves only the backbone, so that strategies compared with one "
                            "head_lr train their heads alike; 0: the strategy's optimizer trains the head too, "
                            "at the task's lr", within="[0, inf)"),
    "divergence_check_every": Setting(20, "steps between reads of the device-side divergence flags (also read at "
                                          "each epoch's end): a step never waits for the device, and a diverged "
                                          "run still names its first non-finite step", within="[1, inf)"),
    "compile": Setting(False, "torch.compile the backbone (nn.Module.compile: parameter names and checkpoints "
                              "stay as they are); each new input shape and train/eval mode compiles once"),
}
RUN_DEFAULTS = {key: setting.default for key, setting in RUN_SETTINGS.items()}

# --smoke: the same pipeline on tiny subsets for one epoch (images of 32 px, or texts of 16 tokens).
SMOKE_OVERRIDES = {"epochs": 1, "train_per_class": 6, "test_per_class": 4, "image_size": 32, "max_tokens": 16}


def resolve_config(stream: StreamSpec, strategy: Strategy, assignments: list[str], smoke: bool = False,
                   backbone: str = "") -> dict:
    """Every hyperparameter of the run, typed and validated: defaults of the engine, stream and
    strategy, the stream's settings for the strategy, the paper's preset when the combination is one
    of its runs, --smoke, then --set. Raises UsageError on a bad --set."""
    declared = {**RUN_SETTINGS, **stream.settings()}
    # a method (ewc, replay, ...) trains with an optimizer strategy: its settings and the stream's for it
    if is_method(strategy):
        optimizer = chosen_optimizer(strategy, assignments)
        own_settings, trained_by = method_settings(strategy, optimizer), [optimizer, strategy]
    else:
        own_settings, trained_by = strategy.settings, [strategy]
    clash = set(declared) & set(own_settings)
    if clash:
        raise RuntimeError(f"strategy {strategy.name!r} redefines run settings {sorted(clash)}")
    declared.update(own_settings)
    config = {key: setting.default for key, setting in declared.items()}
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
        config[key] = _parse(key, text, declared[key], num_tasks)

    for key, setting in declared.items():
        setting.check(key, config[key])
        if key in PER_TASK_KEYS:
            if not isinstance(config[key], list):
                config[key] = [config[key]] * num_tasks
            if len(config[key]) != num_tasks:
                raise UsageError(f"{key} has {len(config[key])} values for {num_tasks} tasks; "
                                 "set one per task with --set")
    if "max_tokens" in config and config["augment"]:
        raise UsageError("--set augment=true flips and shifts images; a text stream has none, so leave it false")
    if hashes := plugin_hashes(stream, *trained_by):
        config["plugin_sha256"] = hashes  # part of the record's name: an edited plugin file is another run
    return config


def _parse(key: str, text: str, setting: Setting, num_tasks: int):
    if key in PER_TASK_KEYS:
        values = [_parse_scalar(key, part, setting.kind) for part in per_task_texts(text)]
        if len(values) not in (1, num_tasks):
            raise UsageError(f"--set {key}={text} gives {len(values)} values; give 1 or one per task ({num_tasks})")
        return values if len(values) > 1 else values[0]
    return _parse_scalar(key, text, setting.kind)


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


def trained_strategy(strategy: Strategy, config: dict) -> Strategy:
    """What a run of `strategy` with this resolved config trains: a method composed with the
    optimizer strategy the config names, any other strategy as it is."""
    return trained_with(strategy, get_strategy(config[OPTIMIZER_KEY])) if is_method(strategy) else strategy


def chosen_optimizer(method: Strategy, assignments: list[str]) -> Strategy:
    """The optimizer strategy a run of `method` with these --set assignments trains with (the last
    optimizer= wins, as for every --set key). One-line UsageError for an unknown one or a method."""
    name = method.defaults[OPTIMIZER_KEY]
    for assignment in assignments:
        key, value = split_assignment(assignment)
        if key == OPTIMIZER_KEY:
            name = value
    optimizers = [s.name for s in strategies().values() if not is_method(s)]
    if name not in strategies() or is_method(get_strategy(name)):
        raise UsageError(f"--set optimizer={name} is not an optimizer strategy; {closest(name, optimizers)}")
    return get_strategy(name)
