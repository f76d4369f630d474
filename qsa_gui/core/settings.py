"""Project settings: one flat, JSON-friendly record of every knob the jobs use."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from qsa_gui.core.active.ensemble import EnsembleConfig
from qsa_gui.core.active.strategies import STRATEGIES
from qsa_gui.core.model.fcn import preset_config
from qsa_gui.core.model.segmenter import SegmenterConfig
from qsa_gui.core.model.training import TrainConfig


@dataclass(frozen=True)
class Settings:
    """Defaults follow the paper's proportions at a CPU-friendly model width."""

    preset: str = "small"
    ensemble_size: int = 5
    ensemble_bits: int | None = 7
    seg_models: int = 1
    seg_bits: int | None = 7
    iterations: int = 300
    ensemble_iterations: int | None = None  # None: same as the segmentation FCN
    finetune_iterations: int | None = None  # when warm-starting from an earlier model; None: iterations
    inq_iterations: int = 40
    batch_size: int = 8
    patch_size: int = 128
    lr: float = 5e-3  # measured: 5e-3 learns glands ~2x faster than 2e-3 at demo budgets
    tile: int = 256
    overlap: int = 32
    strategy: str = "qsa"
    suggest_fraction: float = 0.1
    k: int | None = None
    k_top: int | None = None
    mc_samples: int = 8
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        preset_config(self.preset)  # raises ValueError naming the presets
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        for name in ("ensemble_bits", "seg_bits"):
            bits = getattr(self, name)
            if bits is not None and not 2 <= bits <= 8:
                raise ValueError(f"{name} must be between 2 and 8, or None for float weights")
        if self.ensemble_size < 1 or self.seg_models < 1:
            raise ValueError("ensemble_size and seg_models must be at least 1")
        if not 0 < self.suggest_fraction <= 1:
            raise ValueError("suggest_fraction must be in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Settings:
        """Build from a manifest dict; unknown keys (from other versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def updated(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            iterations=self.iterations,
            batch_size=self.batch_size,
            patch_size=self.patch_size,
            lr=self.lr,
            inq_iterations=self.inq_iterations,
            seed=self.seed,
            device=self.device,
        )

    def _iterations(self, base: int, warm: bool) -> int:
        """Fine-tuning keeps the same share of each model's budget: finetune / iterations."""
        if warm and self.finetune_iterations is not None and self.iterations > 0:
            return max(1, min(base, round(base * self.finetune_iterations / self.iterations)))
        return base

    def ensemble_config(self, *, float_weights: bool = False, warm: bool = False) -> EnsembleConfig:
        """``warm``: the members start from an earlier round's members (fewer iterations)."""
        iterations = self._iterations(self.ensemble_iterations or self.iterations, warm)
        return EnsembleConfig(
            n_models=self.ensemble_size,
            preset=self.preset,
            bits=None if float_weights else self.ensemble_bits,
            train=replace(self.train_config(), iterations=iterations),
            seed=self.seed,
        )

    def segmenter_config(self, *, warm: bool = False) -> SegmenterConfig:
        """``warm``: fine-tuning an earlier model (``finetune_iterations``)."""
        return SegmenterConfig(
            n_models=self.seg_models,
            preset=self.preset,
            bits=self.seg_bits,
            train=replace(self.train_config(), iterations=self._iterations(self.iterations, warm)),
            seed=self.seed,
            tile=self.tile,
            overlap=self.overlap,
        )
