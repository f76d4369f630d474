"""Training under a chosen quantizer: INQ (``train_fcn`` runs it), or DoReFa / TWN codebooks.

One entry point for both model sets, so the suggestive ensemble and the segmentation FCN take
``settings.quantizer`` alike (the quantization ablation compares them on equal terms).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qsa_gui.core.model.fcn import SAFCN
from qsa_gui.core.model.training import TrainConfig, train_fcn

from ..jobs import CancelToken, Job, check, sub_job


def train_quantized(
    model: SAFCN,
    images: list[np.ndarray],
    labels: list[np.ndarray],
    config: TrainConfig,
    quantizer: str = "inq",
    cancel: CancelToken | None = None,
    held_out: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> Job[object]:
    """Float training when ``config.bits`` is None; INQ at ``config.bits``; else ``quantizer``'s codebook."""
    if config.bits is None or quantizer == "inq":
        return (yield from train_fcn(model, images, labels, config, cancel, held_out=held_out))
    return (yield from train_codebook(model, images, labels, config, quantizer, cancel, held_out))


def train_codebook(
    model: SAFCN,
    images: list[np.ndarray],
    labels: list[np.ndarray],
    config: TrainConfig,
    quantizer: str,
    cancel: CancelToken | None = None,
    held_out: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> Job[None]:
    """INQ's incremental schedule with a codebook quantizer (dorefa / twn): float training, then
    per portion freeze the weights farthest from a decision boundary and retrain the rest
    (``train_fcn`` runs each phase; gradient hooks keep frozen weights still, and they are put
    back on their levels after every phase, weight decay's drift included)."""
    from qsa_gui.core.quant.codebook import CodebookController

    float_cfg = replace(config, bits=None)
    yield from sub_job(
        train_fcn(model, images, labels, float_cfg, cancel, held_out=held_out),
        0.0,
        0.6,
        stage_prefix="float ",
    )
    ctl = CodebookController(model, quantizer, portions=config.inq_portions)
    hooks = [p.register_hook(ctl.gradient_hook(name)) for name, p in ctl.parameters]
    try:
        for i, portion in enumerate(ctl.portions):
            check(cancel)
            ctl.step(portion)
            if portion < 1.0 and config.inq_iterations > 0:
                phase = replace(float_cfg, iterations=config.inq_iterations, seed=config.seed + i + 1)
                lo = 0.6 + 0.4 * i / len(ctl.portions)
                yield from sub_job(
                    train_fcn(model, images, labels, phase, cancel),
                    lo,
                    lo + 0.4 / len(ctl.portions),
                    stage_prefix=f"{quantizer} {portion * 100:g}% ",
                )
                ctl.restore_frozen()
    finally:
        for h in hooks:
            h.remove()
    if not ctl.is_fully_quantized:
        raise RuntimeError(f"{quantizer} schedule ended without quantizing every weight")
    model.eval()
