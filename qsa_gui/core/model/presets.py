"""Model presets and the FCN's shape record, without torch.

Why apart from :mod:`.fcn`: settings are validated (the preset name) whenever a project opens,
and the GUI opens projects long before any job runs; importing torch for a name check cost the
window seconds of start-up. :mod:`.fcn` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

NORMS = ("layer", "batch", "group")


@dataclass(frozen=True)
class FCNConfig:
    """Width and depth of an :class:`SAFCN`; serialised into every model file."""

    stem_width: int
    stage_widths: tuple[int, ...]
    blocks_per_stage: tuple[int, ...]
    decoder_width: int
    dropout: float
    stem_convs: int = 2
    bottleneck_ratio: int = 4
    norm: str = "batch"

    def __post_init__(self) -> None:
        def pos_int(name: str, value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FCNConfig.{name} must be a positive integer, got {value!r}")

        pos_int("stem_width", self.stem_width)
        pos_int("decoder_width", self.decoder_width)
        pos_int("stem_convs", self.stem_convs)
        pos_int("bottleneck_ratio", self.bottleneck_ratio)
        for name in ("stage_widths", "blocks_per_stage"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"FCNConfig.{name} must be a non-empty tuple, got {value!r}")
            for v in value:
                pos_int(name, v)
        if len(self.stage_widths) != len(self.blocks_per_stage):
            raise ValueError("FCNConfig.stage_widths and blocks_per_stage must have the same length")
        if len(self.stage_widths) > 8:
            raise ValueError("FCNConfig: at most 8 stages (size_multiple would exceed 256)")
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(f"FCNConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.norm not in NORMS:
            raise ValueError(f"FCNConfig.norm must be one of {NORMS}, got {self.norm!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        d = asdict(self)
        d["stage_widths"] = list(self.stage_widths)
        d["blocks_per_stage"] = list(self.blocks_per_stage)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> FCNConfig:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"FCNConfig must be a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"FCNConfig: unknown keys {sorted(unknown)}")
        missing = {f.name for f in fields(cls) if f.default is MISSING} - set(data)
        if missing:
            raise ValueError(f"FCNConfig: missing keys {sorted(missing)}")
        kwargs = dict(data)
        for name in ("stage_widths", "blocks_per_stage"):
            if not isinstance(kwargs[name], (list, tuple)):
                raise ValueError(f"FCNConfig.{name} must be a list, got {kwargs[name]!r}")
            kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


PRESETS: dict[str, FCNConfig] = {
    # Tests: a few thousand parameters, milliseconds per patch.
    "tiny": FCNConfig(
        stem_width=8, stage_widths=(16, 32), blocks_per_stage=(1, 1), decoder_width=8, dropout=0.1
    ),
    # CPU default: same shape, 4 poolings, ~0.2M parameters.
    "small": FCNConfig(
        stem_width=16,
        stage_widths=(32, 64, 128, 256),
        blocks_per_stage=(1, 1, 1, 1),
        decoder_width=16,
        dropout=0.25,
        stem_convs=1,
    ),
    # The demo's CPU preset: same shape at half the small width, ~3.5x faster to train.
    "compact": FCNConfig(
        stem_width=8,
        stage_widths=(16, 32, 64, 128),
        blocks_per_stage=(1, 1, 1, 1),
        decoder_width=8,
        dropout=0.25,
        stem_convs=1,
    ),
    # SA width (up to 1024 channels), for GPUs.
    "paper": FCNConfig(
        stem_width=64,
        stage_widths=(128, 256, 512, 1024),
        blocks_per_stage=(2, 3, 4, 3),
        decoder_width=64,
        dropout=0.5,
        bottleneck_ratio=2,
    ),
}


def preset_config(name: str) -> FCNConfig:
    """The :class:`FCNConfig` of a named preset, with a clear error for an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


__all__ = ["NORMS", "PRESETS", "FCNConfig", "preset_config"]
