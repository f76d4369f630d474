"""How fast this device trains and runs a model preset: a quick timing, cached per machine.

Why: a job's duration depends on the machine far more than on anything in the project (a GPU
is 100x a laptop core), so an estimate before a job starts needs one measurement here. A few
training iterations of the real loop (patch sampling, augmentation, loss, Adam) and one tile of
inference are timed, then cached in the user cache folder under the preset's architecture,
batch, patch and tile sizes, the device, torch's thread count and torch's version, so each
combination is measured once. Settings too slow to time quickly (the paper width on a CPU) are
timed at one small patch and scaled by the pixels (convolutions are linear in them), and marked
``extrapolated``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_FILE = "calibration.json"
CACHE_VERSION = 1
# A measurement predicted to take longer than this is extrapolated from a small one instead.
TIME_BUDGET_S = 1.5


@dataclass(frozen=True)
class Calibration:
    """Seconds per training iteration and per inference tile for one preset on one device."""

    train_s: float  # one iteration at batch_size x patch_size (INQ iterations cost the same)
    tile_s: float  # one forward pass of a tile x tile input (no gradients)
    tile: int  # the tile size it was timed at (after rounding to the model's size multiple)
    device: str
    threads: int
    extrapolated: bool = False

    def inference_s(self, pixels: float) -> float:
        """Inference seconds for ``pixels`` input pixels (tiles, padding included)."""
        return self.tile_s * pixels / float(self.tile * self.tile)


def cache_dir() -> Path:
    """``$QSA_CACHE_DIR``, else the platform's user cache folder + ``qsa-gui``."""
    env = os.environ.get("QSA_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "qsa-gui" / "cache"
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return Path.home() / "Library" / "Caches" / "qsa-gui"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qsa-gui"


def _resolved_device(device: str | None) -> str:
    from .fcn import pick_device

    dev = pick_device(device)
    if dev.type == "cuda":
        import torch

        return f"cuda:{dev.index if dev.index is not None else torch.cuda.current_device()}"
    return dev.type


def _torch_version() -> str:
    """The installed torch's version (``2.13.0+cpu``) without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"


def calibration_key(preset: str, batch_size: int, patch_size: int, tile: int, device: str | None) -> str:
    """What the timing depends on; the preset's architecture itself, so a retuned preset re-times.

    Torch-free on purpose: the GUI looks up an estimate on its own thread just before a job
    starts, and importing torch there froze the window for ~1.4 s on the first job (the job
    itself runs in a worker process, so the GUI process otherwise never imports torch)."""
    from ..runtime import default_threads
    from .presets import preset_config

    env = os.environ.get("QSA_THREADS")
    threads = max(1, int(env)) if env and env.isdigit() else default_threads()
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "arch": preset_config(preset).to_dict(),
            "batch": batch_size,
            "patch": patch_size,
            "tile": tile,
            "device": device or "auto",
            "threads": threads,
            "torch": _torch_version(),
        },
        sort_keys=True,
    )
    return f"{preset}-{hashlib.sha1(blob.encode()).hexdigest()[:16]}"


def _read_cache(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / CACHE_FILE).read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(folder: Path, key: str, cal: Calibration) -> None:
    """Best effort: an unwritable cache only means timing again next time."""
    from ..atomic import atomic_write_json

    data = _read_cache(folder)
    data[key] = asdict(cal)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / CACHE_FILE, data)
    except OSError:
        pass


def _from_cache(entry: Any) -> Calibration | None:
    try:
        cal = Calibration(**entry)
    except TypeError:
        return None
    ok = all(isinstance(v, (int, float)) and v > 0 for v in (cal.train_s, cal.tile_s, cal.tile))
    return cal if ok else None


def cached_calibration(
    preset: str, batch_size: int, patch_size: int, tile: int, device: str | None, folder: Path | None = None
) -> Calibration | None:
    """The cached timing, or None when this combination was never measured here."""
    key = calibration_key(preset, batch_size, patch_size, tile, device)
    return _from_cache(_read_cache(folder or cache_dir()).get(key))


def calibrate(
    preset: str,
    batch_size: int,
    patch_size: int,
    tile: int,
    device: str | None = None,
    *,
    folder: Path | None = None,
    refresh: bool = False,
) -> Calibration:
    """The cached timing, else time it now (about a second or two) and cache it."""
    folder = folder or cache_dir()
    key = calibration_key(preset, batch_size, patch_size, tile, device)
    if not refresh:
        cal = _from_cache(_read_cache(folder).get(key))
        if cal is not None:
            return cal
    cal = measure(preset, batch_size, patch_size, tile, device)
    _write_cache(folder, key, cal)
    return cal


def _training_seconds(model: Any, batch: int, patch: int, iterations: int, device: str) -> float:
    """Wall time of one ``train_fcn`` call (optimizer and sampler set-up included)."""
    from ..jobs import run_job
    from .training import TrainConfig, train_fcn

    size = patch + 8
    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3), dtype=np.float32)
    labels = np.zeros((size, size), np.int32)
    q = max(2, size // 4)
    labels[q : 2 * q, q : 2 * q] = 1
    labels[2 * q + 2 : 3 * q, q : 3 * q] = 2
    config = TrainConfig(
        iterations=iterations, batch_size=batch, patch_size=patch, inq_iterations=0, bits=None, device=device
    )
    t0 = time.perf_counter()
    run_job(train_fcn(model, [image], [labels], config))
    return time.perf_counter() - t0


def _forward_seconds(model: Any, size: int, device: str) -> float:
    import torch

    x = torch.rand(1, 3, size, size, device=device)
    model.eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model(x)
        float(out.gland.sum())  # waits for the device
    return time.perf_counter() - t0


def measure(
    preset: str, batch_size: int, patch_size: int, tile: int, device: str | None = None
) -> Calibration:
    """Time training iterations and one tile now (see the module docstring); no cache. Torch's
    random state is restored afterwards, so a seeded job gives the same result with or without."""
    import torch

    devices = [torch.cuda.current_device()] if _resolved_device(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        return _measure(preset, batch_size, patch_size, tile, device)


def _measure(preset: str, batch_size: int, patch_size: int, tile: int, device: str | None) -> Calibration:
    from ..runtime import configure_threads
    from .fcn import SAFCN, preset_config

    threads = configure_threads()
    dev = _resolved_device(device)
    model = SAFCN(preset_config(preset))
    m = model.size_multiple
    small = min(patch_size, max(m, (128 // m) * m))
    _training_seconds(model, 1, small, 1, dev)  # warm-up: first-call allocations, kernels
    one = _training_seconds(model, 1, small, 2, dev) - _training_seconds(model, 1, small, 1, dev)
    one = max(one, 1e-4)
    scale = batch_size * patch_size**2 / float(small**2)
    extrapolated = one * scale > 2 * TIME_BUDGET_S
    if extrapolated:
        train_s = one * scale
    else:
        base = _training_seconds(model, batch_size, patch_size, 1, dev)
        n = int(min(10, max(1, TIME_BUDGET_S / max(one * scale, 1e-3))))
        train_s = max(1e-4, (_training_seconds(model, batch_size, patch_size, 1 + n, dev) - base) / n)
    tile_eff = max(m, (tile // m) * m)
    small_tile = min(tile_eff, max(m, (256 // m) * m))
    _forward_seconds(model, small_tile, dev)
    t_small = _forward_seconds(model, small_tile, dev)
    tile_scale = (tile_eff / small_tile) ** 2
    if t_small * tile_scale > TIME_BUDGET_S:
        tile_s, extrapolated = t_small * tile_scale, True
    else:
        if tile_eff != small_tile:
            _forward_seconds(model, tile_eff, dev)
        tile_s = min(_forward_seconds(model, tile_eff, dev) for _ in range(2))
    return Calibration(
        train_s=train_s,
        tile_s=max(tile_s, 1e-5),
        tile=tile_eff,
        device=dev,
        threads=threads,
        extrapolated=extrapolated,
    )


__all__ = ["Calibration", "cache_dir", "calibrate", "cached_calibration", "calibration_key", "measure"]
