"""Project settings: one flat, JSON-friendly record of every knob the jobs use.

Importing this module (and validating settings) never imports torch: a GUI opens projects long
before a job needs the models, and torch costs seconds of start-up. The model configs are
imported when a job asks for them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from numbers import Real
from typing import TYPE_CHECKING, Any, TypeVar

from qsa_gui.core.active.strategies import get_strategy
from qsa_gui.core.model.presets import preset_config
from qsa_gui.core.quant.bits import check_bits, check_quantizer
from qsa_gui.core.ray_tasks import EXECUTORS

if TYPE_CHECKING:
    from qsa_gui.core.active.ensemble import EnsembleConfig
    from qsa_gui.core.model.segmenter import ModelSetConfig, SegmenterConfig
    from qsa_gui.core.model.training import TrainConfig

C = TypeVar("C", bound="ModelSetConfig")


@dataclass(frozen=True)
class Settings:
    """Defaults follow the paper's proportions at a CPU-friendly model width."""

    preset: str = "small"
    ensemble_size: int = 5
    ensemble_bits: int | None = 7
    seg_models: int = 1
    seg_bits: int | None = 7
    iterations: int = 300
    # The suggestive members only rank images: measured (docs/benchmarks.md, "The loop at
    # interactive speed") they need a fraction of the segmentation FCN's budget, stopped early
    # when their out-of-bag loss plateaus; scoring them below full resolution reorders the pool.
    ensemble_preset: str | None = "compact"  # the members' width, never above preset's; None: preset
    ensemble_iterations: int | None = 120  # cap of the members' float phase; None: iterations
    # per INQ step of the members; None: inq_iterations scaled by their share of iterations
    ensemble_inq_iterations: int | None = None
    ensemble_patience: int | None = 3  # held-out checks (every 10 iterations) without gain; None: off
    score_scale: float = 1.0  # < 1 scores a downscaled pool: measured to reorder it (docs)
    # when warm-starting from an earlier model (a later Suggest's members): that share of the
    # budget; None: the full budget
    finetune_iterations: int | None = 100
    # a later Suggest's members start from the previous round's (fine-tuned for the share above);
    # False trains them from scratch each round, at their full budget (measured on real H&E: no
    # better picks, and less diverse members; docs/benchmarks.md section 0)
    ensemble_warm_start: bool = True
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
    # inq (the paper's, at *_bits), dorefa (1 bit) or twn (ternary, 2 bits), for the suggestive
    # ensemble and the segmentation FCN alike (model/quantized_training.py)
    quantizer: str = "inq"
    # where the suggestive members train: "local" (this process, one per GPU when there are
    # several) or "ray" (one Ray task each, on the cluster at ray_address; pip install qsa-gui[ray])
    executor: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def check_device(self) -> None:
        """Refuse a CUDA/MPS device this machine lacks, before a job starts (a clear ValueError)."""
        check_device_available(self.device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Settings:
        """Build from a manifest dict; unknown keys (from other versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def updated(self, **changes: Any) -> Settings:
        """Only the changes that are not None (unset form fields); to set a field *to* None (float
        bits, automatic device) use :func:`dataclasses.replace`."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def train_config(self) -> TrainConfig:
        from qsa_gui.core.model.training import TrainConfig

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

    def _model_set(self, cls: type[C], n_models: int, bits: int | None, iterations: int, **extra: Any) -> C:
        """The shared part of both model sets (see :class:`ModelSetConfig`)."""
        train = replace(self.train_config(), iterations=iterations)
        return cls(
            n_models=n_models,
            preset=self.preset,
            bits=bits,
            train=train,
            seed=self.seed,
            quantizer=self.quantizer,
            **extra,
        )

    def ensemble_config(self, *, float_weights: bool = False, warm: bool = False) -> EnsembleConfig:
        """``warm``: the members start from an earlier round's members (fewer iterations)."""
        from qsa_gui.core.active.ensemble import EnsembleConfig

        base = self.iterations if self.ensemble_iterations is None else self.ensemble_iterations
        iterations = self._iterations(base, warm)
        bits = None if float_weights else self.ensemble_bits
        config = self._model_set(EnsembleConfig, self.ensemble_size, bits, iterations)
        if self.ensemble_preset is not None and _width(self.ensemble_preset) < _width(self.preset):
            config = replace(config, preset=self.ensemble_preset)
        inq = self.ensemble_inq_iterations
        if inq is None:  # INQ keeps the share of the budget it has in the segmentation FCN
            inq = (
                self.inq_iterations
                if self.iterations <= 0
                else round(self.inq_iterations * base / self.iterations)
            )
            inq = min(self.inq_iterations, max(1 if self.inq_iterations else 0, inq))
        train = replace(config.train, inq_iterations=inq, early_stop_patience=self.ensemble_patience)
        return replace(config, train=train, executor=self.executor, ray_address=self.ray_address)

    def segmenter_config(self, *, warm: bool = False) -> SegmenterConfig:
        """``warm``: fine-tuning an earlier model (``finetune_iterations``)."""
        from qsa_gui.core.model.segmenter import SegmenterConfig

        iterations = self._iterations(self.iterations, warm)
        return self._model_set(
            SegmenterConfig, self.seg_models, self.seg_bits, iterations, tile=self.tile, overlap=self.overlap
        )


_DEVICE = re.compile(r"cpu|cuda|cuda:\d+|mps")
# field -> smallest allowed value; "?" after the name: None is allowed too
_INTS = {
    "ensemble_size": 1,
    "seg_models": 1,
    "iterations": 0,
    "ensemble_iterations?": 0,
    "ensemble_inq_iterations?": 0,
    "ensemble_patience?": 1,
    "finetune_iterations?": 0,
    "inq_iterations": 0,
    "batch_size": 1,
    "patch_size": 1,
    "tile": 1,
    "overlap": 0,
    "k?": 1,
    "k_top?": 1,
    "mc_samples": 1,
    "seed": 0,
}


def _width(preset: str) -> int:
    """An order of the presets by width (channels summed over the scales)."""
    c = preset_config(preset)
    return c.stem_width + sum(c.stage_widths) + c.decoder_width


def _validate(s: Settings) -> None:
    """Every field's type and range; the message names the field (project.json shows it as-is)."""
    for key, low in _INTS.items():
        name = key.rstrip("?")
        value = getattr(s, name)
        if value is None and key.endswith("?"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            what = "a positive integer" if low == 1 else "an integer >= 0"
            none = " or None" if key.endswith("?") else ""
            raise ValueError(f"settings.{name} must be {what}{none}, got {value!r}")
    if s.overlap >= s.tile:
        raise ValueError(f"settings.overlap must be smaller than settings.tile ({s.tile}), got {s.overlap}")
    if not isinstance(s.ensemble_warm_start, bool):
        raise ValueError(f"settings.ensemble_warm_start must be true or false, got {s.ensemble_warm_start!r}")
    for name in ("ensemble_bits", "seg_bits"):
        check_bits(getattr(s, name), f"settings.{name}", allow_float=True)
    if isinstance(s.lr, bool) or not isinstance(s.lr, Real) or not 0 < s.lr < float("inf"):
        raise ValueError(f"settings.lr must be a positive number, got {s.lr!r}")
    for name in ("suggest_fraction", "score_scale"):
        f = getattr(s, name)
        if isinstance(f, bool) or not isinstance(f, Real) or not 0 < f <= 1:
            raise ValueError(f"settings.{name} must be a number in (0, 1], got {f!r}")
    for name, check in (
        ("preset", preset_config),
        ("ensemble_preset", preset_config),
        ("strategy", get_strategy),
    ):
        value = getattr(s, name)
        if value is None and name == "ensemble_preset":
            continue
        if not isinstance(value, str):
            raise ValueError(f"settings.{name} must be a string, got {value!r}")
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"settings.{name}: {exc}") from None
    check_quantizer(s.quantizer, "settings.quantizer")
    if s.executor not in EXECUTORS:
        raise ValueError(f"settings.executor must be one of {', '.join(EXECUTORS)}, got {s.executor!r}")
    if s.ray_address is not None and not (isinstance(s.ray_address, str) and s.ray_address.strip()):
        raise ValueError(
            f"settings.ray_address must be None or an address such as 'auto', got {s.ray_address!r}"
        )
    if s.device is not None and not (isinstance(s.device, str) and _DEVICE.fullmatch(s.device)):
        raise ValueError(f"settings.device must be None, 'cpu', 'cuda', 'cuda:N' or 'mps', got {s.device!r}")


def check_device_available(device: str | None) -> None:
    """A requested accelerator must exist here; torch's own error would be an internal one."""
    if device is None or device == "cpu":
        return
    import torch

    if device.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"settings.device is {device!r} but this machine has no CUDA device; use 'cpu'")
        index = int(device.partition(":")[2] or 0)
        if index >= n:
            raise ValueError(f"settings.device is {device!r} but this machine has {n} CUDA device(s)")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("settings.device is 'mps' but MPS is not available on this machine; use 'cpu'")
