"""Contrasts a sweep file names: "treated - control", each side a strategy as tables label it
("nanoadam", "replay + nanoadam"), optionally narrowed by settings ("adamw weight_decay=0.01").

A bare side whose strategy ran in several variants in one cell (adamw with weight_decay 0 and
0.01) means the variant at the strategy's default settings; a setting written on the side picks
another.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from clbench.errors import UsageError
from clbench.records import curve_settings, differing_keys, one_value, strategy_label

# sweep files that name no contrasts: the questions the first campaign asked
DEFAULT_CONTRASTS = ("nanoadam - adamw", "replay + nanoadam - replay + adamw", "nanoadam mask_biases=true - adamw")


@dataclass(frozen=True)
class Side:
    label: str
    settings: tuple[tuple[str, object], ...]  # (key, value) the records must have

    def candidates(self, records: list[dict]) -> list[dict]:
        return [r for r in records if strategy_label(r) == self.label
                and all(one_value(r["config"].get(key)) == value for key, value in self.settings)]


@dataclass(frozen=True)
class Contrast:
    name: str
    treated: Side
    control: Side


def parse_contrast(text: str) -> Contrast:
    """"a - b" as a Contrast; a UsageError saying what is wrong otherwise."""
    parts = text.split(" - ")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise UsageError(f"contrast {text!r} is not 'treated - control'; write e.g. \"nanoadam - random_mask\"")
    return Contrast(text.strip(), *(_side(part, text) for part in parts))


def _side(text: str, contrast: str) -> Side:
    words = text.split()
    settings = [word for word in words if "=" in word]
    label = " ".join(word for word in words if "=" not in word)
    if not label or not re.fullmatch(r"[\w.-]+( \+ [\w.-]+)?", label):
        raise UsageError(f"contrast {contrast!r}: {text.strip()!r} names no strategy; write a strategy as tables "
                         "label it (\"nanoadam\", \"replay + nanoadam\"), then any key=value settings")
    pairs = []
    for word in settings:
        key, _, value = word.partition("=")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        pairs.append((key, parsed))
    return Side(label, tuple(pairs))


def side_records(side: Side, records: list[dict], defaults: dict | None) -> list[dict]:
    """The records of one cell that play `side`: its strategy's and settings' records, and of
    several variants left, the one at the strategy's `defaults` (None: unknown, so none is chosen)."""
    candidates = side.candidates(records)
    variants: dict[str, list[dict]] = {}
    for record in candidates:
        variants.setdefault(json.dumps(curve_settings(record["config"]), sort_keys=True), []).append(record)
    if len(variants) <= 1:
        return candidates
    configs = [json.loads(key) for key in variants]
    differing = differing_keys(configs)
    at_defaults = [group for group, config in zip(variants.values(), configs)
                   if defaults is not None and all(one_value(config.get(key)) == one_value(defaults.get(key))
                                                   for key in differing)]
    return at_defaults[0] if len(at_defaults) == 1 else []
