"""Text data sets tokenised once per tokenizer and max_tokens, and cached like the image data.

Token ids are int32 tensors (N, max_tokens), truncated and padded with the tokenizer's pad id: the
attention mask is where the ids are not the pad id (clbench.training.text_backbones.TextEncoder).
A cache file is named by the data set, a digest of its texts and labels, a fingerprint of the
tokenizer (its full serialisation) and max_tokens, and written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import torch

from clbench.atomic import write_bytes_atomically
from clbench.data.datasets import ImageSplits, TextSplits, cache_dir
from clbench.errors import UsageError

_BATCH = 1000  # texts per tokenizer call


@dataclass(frozen=True)
class Tokenization:
    """A backbone's tokenizer at a max_tokens: turns a text data set into token ids."""

    tokenizer: object  # a Hugging Face (fast) tokenizer
    max_tokens: int

    def fingerprint(self) -> str:
        """A digest of the tokenizer's vocabulary and rules; not of its truncation and padding, which
        the fast tokenizer keeps from its last call."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            described = repr(self.tokenizer)
        else:
            described = json.dumps({key: value for key, value in json.loads(backend.to_str()).items()
                                    if key not in ("truncation", "padding")}, sort_keys=True)
        return hashlib.sha256(described.encode()).hexdigest()[:16]

    def encode(self, texts: list[str]) -> torch.Tensor:
        limit = getattr(self.tokenizer, "model_max_length", None)
        if limit and self.max_tokens > limit:
            raise UsageError(f"max_tokens={self.max_tokens} is more than the backbone's {limit} positions; "
                             f"--set max_tokens={limit} or fewer")
        parts = [self.tokenizer(texts[start:start + _BATCH], truncation=True, max_length=self.max_tokens,
                                padding="max_length", return_tensors="pt")["input_ids"].to(torch.int32)
                 for start in range(0, len(texts), _BATCH)]
        return torch.cat(parts) if parts else torch.zeros(0, self.max_tokens, dtype=torch.int32)

    def tokenized(self, dataset: str, splits: TextSplits) -> ImageSplits:
        """The data set's splits as token ids, from the cache or tokenised now (and cached)."""
        path = cache_dir() / "tokens" / f"{dataset}__{_digest(splits)}__{self.fingerprint()}__{self.max_tokens}.pt"
        if path.exists():
            try:
                ids = torch.load(path, map_location="cpu", weights_only=True)
                return ImageSplits(ids["train"], splits.train_y, ids["test"], splits.test_y, splits.num_classes)
            except Exception:  # a damaged cache file is tokenised again
                pass
        train, test = self.encode(splits.train_texts), self.encode(splits.test_texts)
        buffer = io.BytesIO()
        torch.save({"train": train, "test": test}, buffer)
        write_bytes_atomically(path, buffer.getvalue())
        return ImageSplits(train, splits.train_y, test, splits.test_y, splits.num_classes)


def _digest(splits: TextSplits) -> str:
    digest = hashlib.sha256()
    for texts, labels in ((splits.train_texts, splits.train_y), (splits.test_texts, splits.test_y)):
        for text in texts:
            digest.update(text.encode())
            digest.update(b"\0")
        digest.update(labels.numpy().tobytes())
    return digest.hexdigest()[:16]
