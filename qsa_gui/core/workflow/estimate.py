"""How long a Retrain or Suggest will take, before it starts.

Why: with the paper's width a round takes hours on a laptop and minutes on a GPU; a user should
see "about 3 min" before pressing the button, not after the first progress. The estimate is the
job's recipe (how many models, iterations and inference tiles, from the settings and the
project's image sizes) times this device's timing of the preset
(:mod:`qsa_gui.core.model.calibration`, measured once and cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qsa_gui.core.model.calibration import Calibration, cached_calibration, calibrate
from qsa_gui.core.project.store import Project

from ..settings import Settings

# Measured on the demo project (docs/gui.md, "Settings"): loading, post-processing the
# predictions into glands, metrics and saving, per megapixel of each image seen.
POSTPROCESS_S_PER_MPX = 1.0
FIXED_S = 1.0  # loading the labels, saving the model or the round, the manifest
INQ_PHASES = 3  # INQ portions below 100% (0.5, 0.75, 0.875), each with inq_iterations


@dataclass(frozen=True)
class JobEstimate:
    """Seconds a job is expected to take here, and what that is made of (for a tooltip)."""

    job: str
    seconds: float
    detail: str
    extrapolated: bool = False

    @property
    def text(self) -> str:
        """``about 3 min`` (``roughly`` when timed at a smaller size and scaled); why not, when
        the job cannot run yet."""
        if self.seconds <= 0:
            return self.detail
        word = "roughly" if self.extrapolated else "about"
        return f"{word} {format_duration(self.seconds)}"


def format_duration(seconds: float) -> str:
    """40 -> ``40 s``, 200 -> ``3 min``, 9000 -> ``2.5 h``: rounded, an estimate is no stopwatch."""
    if seconds < 60:
        return f"{max(1, round(seconds / 5) * 5 if seconds >= 10 else round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 10 else f"{round(hours)} h"


def _tiles_pixels(shape: Sequence[int], tile: int, overlap: int, multiple: int) -> int:
    """Input pixels the tiled inference processes for one image (see ``predict_tiled``)."""
    h, w = int(shape[0]), int(shape[1])
    up = lambda v: -(-v // multiple) * multiple  # noqa: E731
    stride = max(multiple, ((tile - overlap) // multiple) * multiple)
    th, tw = min(tile, up(h)), min(tile, up(w))
    ny = 1 + max(0, -(-(h - th) // stride))
    nx = 1 + max(0, -(-(w - tw) // stride))
    return ny * nx * th * tw


def _inference_s(cal: Calibration, settings: Settings, shapes: Sequence[Sequence[int]], passes: int) -> float:
    from qsa_gui.core.model.fcn import preset_config

    m = 2 ** len(preset_config(settings.preset).stage_widths)
    tile = max(m, (settings.tile // m) * m)
    pixels = sum(_tiles_pixels(s, tile, settings.overlap, m) for s in shapes)
    image_mpx = sum(int(s[0]) * int(s[1]) for s in shapes) / 1e6
    return passes * cal.inference_s(pixels) + image_mpx * POSTPROCESS_S_PER_MPX


def _train_iterations(iterations: int, inq_iterations: int, bits: int | None) -> int:
    return iterations + (INQ_PHASES * inq_iterations if bits is not None else 0)


def retrain_seconds(
    cal: Calibration,
    settings: Settings,
    n_labelled: int,
    val_shapes: Sequence[Sequence[int]],
    has_model: bool,
) -> tuple[float, str]:
    """(seconds, what) of a Retrain: ``seg_models`` trainings, then validating on held-out images."""
    if n_labelled == 0:
        return 0.0, "nothing labelled: Retrain cannot run yet"
    iters = _train_iterations(settings.iterations, settings.inq_iterations, settings.seg_bits)
    train = settings.seg_models * iters * cal.train_s
    passes = settings.seg_models * (2 if has_model else 1)
    val = _inference_s(cal, settings, val_shapes, passes) if val_shapes else 0.0
    what = f"{settings.seg_models} FCN(s) x {iters} iterations"
    if val_shapes:
        what += f", validating on {len(val_shapes)} held-out image(s)"
    return FIXED_S + train + val, what


def suggest_seconds(
    cal: Calibration, settings: Settings, n_labelled: int, pool_shapes: Sequence[Sequence[int]]
) -> tuple[float, str]:
    """(seconds, what) of a Suggest: train what the strategy needs, then score every pool image."""
    from qsa_gui.core.active.strategies import get_strategy

    if not pool_shapes:
        return 0.0, "no unlabelled pool images: nothing to suggest"
    needs = get_strategy(settings.strategy).needs if n_labelled else "none"
    if needs == "none":
        mpx = sum(int(s[0]) * int(s[1]) for s in pool_shapes) / 1e6
        return FIXED_S + mpx * POSTPROCESS_S_PER_MPX, f"describing {len(pool_shapes)} images (no training)"
    if needs == "mc_dropout":
        iters = settings.iterations
        train = iters * cal.train_s
        score = _inference_s(cal, settings, pool_shapes, settings.mc_samples)
        return FIXED_S + train + score, f"1 FCN x {iters} iterations, {settings.mc_samples} passes per image"
    bits = None if needs == "float_ensemble" else settings.ensemble_bits
    iters = _train_iterations(
        settings.ensemble_iterations or settings.iterations, settings.inq_iterations, bits
    )
    train = settings.ensemble_size * iters * cal.train_s
    score = _inference_s(cal, settings, pool_shapes, settings.ensemble_size)
    what = (
        f"{settings.ensemble_size} suggestive FCN(s) x {iters} iterations, scoring {len(pool_shapes)} images"
    )
    return FIXED_S + train + score, what


def settings_calibration(settings: Settings, *, measure: bool = True) -> Calibration | None:
    """This device's timing of the settings' model (measured now unless cached and ``measure``)."""
    args = (settings.preset, settings.batch_size, settings.patch_size, settings.tile, settings.device)
    return calibrate(*args) if measure else cached_calibration(*args)


def estimate_jobs(
    project: Project, settings: Settings, cal: Calibration | None = None
) -> dict[str, JobEstimate]:
    """``{"retrain": ..., "suggest": ...}`` for this project with ``settings`` on this device."""
    from qsa_gui.core.model.segmenter import validation_split

    cal = cal or settings_calibration(settings)
    assert cal is not None
    labelled = project.labelled_ids("pool")
    _, val_ids = validation_split(labelled)
    shape = {r.id: r.shape for r in project.images}
    r_s, r_what = retrain_seconds(
        cal, settings, len(labelled), [shape[i] for i in val_ids], project.current_model is not None
    )
    s_s, s_what = suggest_seconds(
        cal, settings, len(labelled), [shape[i] for i in project.unlabelled_ids("pool")]
    )
    return {
        "retrain": JobEstimate("retrain", r_s, r_what, cal.extrapolated),
        "suggest": JobEstimate("suggest", s_s, s_what, cal.extrapolated),
    }


__all__ = [
    "JobEstimate",
    "estimate_jobs",
    "format_duration",
    "retrain_seconds",
    "settings_calibration",
    "suggest_seconds",
]
