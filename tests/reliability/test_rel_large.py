"""Resource limits: huge images are read lazily and segmented strip by strip with bounded memory
(exactly equal to whole-image post-processing where the margin covers the objects), the workflow
uses that path above a pixel threshold, and inference survives running out of GPU memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from rel_helpers import MEMORY_PROBE, micro_segmenter, write_big_tiff

from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy
from qsa_gui.core.errors import Cancelled, InputFileError
from qsa_gui.core.jobs import CancelToken, run_job
from qsa_gui.core.model import largeimage
from qsa_gui.core.model.fcn import SAFCN, GPUMemoryWarning, predict_tiled
from qsa_gui.core.model.largeimage import plan_strips, segment_large
from qsa_gui.core.model.postprocess import probs_to_instances
from qsa_gui.core.project.store import ModelVersion, Project

HERE = Path(__file__).parent


# ---------------------------------------------------------------------------- lazy reading

LAYOUTS = {
    "raw-rgb": dict(photometric="rgb"),
    "zlib-strips": dict(photometric="rgb", compression="zlib", rowsperstrip=7),
    "zlib-tiles": dict(photometric="rgb", compression="zlib", tile=(32, 32)),
    "lzw-planar": dict(photometric="rgb", planarconfig="separate", compression="lzw", rowsperstrip=9),
    "raw-planar": dict(photometric="rgb", planarconfig="separate"),
    "jpeg-tiles": dict(photometric="rgb", compression="jpeg", tile=(32, 32)),
    "big-endian-16bit": dict(byteorder=">"),
    "16bit-tiles-predictor": dict(tile=(16, 16), compression="zlib", predictor=True),
    "float-rgb": dict(photometric="rgb"),
    "rgba": dict(photometric="rgb", extrasamples=["unassalpha"]),
}


def _layout_array(name: str) -> np.ndarray:
    rng = np.random.default_rng(len(name))
    if "16bit" in name:
        return rng.integers(0, 4096, (101, 77), dtype=np.uint16)
    if name == "float-rgb":
        return rng.random((101, 77, 3), dtype=np.float32)
    if name == "rgba":
        return rng.integers(0, 256, (101, 77, 4), dtype=np.uint8)
    if "planar" in name:
        return rng.integers(0, 256, (3, 101, 77), dtype=np.uint8)
    return rng.integers(0, 256, (101, 77, 3), dtype=np.uint8)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_lazy_regions_equal_the_whole_image(tmp_path: Path, layout: str) -> None:
    path = tmp_path / f"{layout}.tif"
    tifffile.imwrite(path, _layout_array(layout), **LAYOUTS[layout])
    full, rgb = qio.read_image(path), qio.load_rgb(path)
    with qlazy.open_lazy(path) as lazy:
        assert lazy.shape == full.shape and lazy.dtype == full.dtype
        for y0, y1, x0, x1 in [(0, 101, 0, 77), (5, 40, 3, 70), (100, 101, 76, 77), (31, 33, 31, 65)]:
            np.testing.assert_array_equal(lazy.read_region(y0, y1, x0, x1), full[y0:y1, x0:x1])
            np.testing.assert_array_equal(lazy.read_rgb(y0, y1, x0, x1), rgb[y0:y1, x0:x1])
        with pytest.raises(ValueError):
            lazy.read_region(50, 40)


def test_lazy_read_of_a_truncated_big_file_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.zeros((400, 300, 3), np.uint8), photometric="rgb")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with qlazy.open_lazy(path) as lazy:  # the header is intact
        lazy.read_region(0, 10)
        with pytest.raises(InputFileError, match="truncated"):
            lazy.read_region(390, 400)
    comp = tmp_path / "cutz.tif"
    tifffile.imwrite(
        comp, np.ones((400, 300, 3), np.uint8), photometric="rgb", compression="zlib", rowsperstrip=16
    )
    data = comp.read_bytes()
    comp.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError):
        with qlazy.open_lazy(comp) as lazy:
            lazy.read_region(0, 400)


def test_read_image_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    png = tmp_path / "a.png"
    qio.write_image(png, np.zeros((64, 64, 3), np.uint8))
    monkeypatch.setattr(qio, "MAX_PIXELS", 64 * 63)
    for p in (path, png):
        with pytest.raises(InputFileError, match="64 x 64 pixels"):
            qio.read_image(p)
    with qlazy.open_lazy(path) as lazy:  # the lazy reader has no such limit
        assert lazy.read_rgb(0, 64).shape == (64, 64, 3)


# ---------------------------------------------------------------------- strip segmentation


class ProbsFromImage:
    """Probabilities that are the image's first two channels: post-processing is then the only
    computation, so strip results can be compared with whole-image post-processing exactly."""

    tile, overlap = 64, 8

    def probabilities(self, image, device=None, cancel=None):
        return image[..., 0].copy(), image[..., 1].copy()


def _disc_image(seed: int, h: int, w: int, n: int, rmax: int) -> np.ndarray:
    """Random discs (some touching, split by a contour ring), a long bar, and continuous noise
    in the contour map (no watershed ties)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    img[..., 1] = rng.random((h, w)) * 0.3
    yy, xx = np.mgrid[:h, :w]
    for _ in range(n):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, rmax)
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        img[..., 0][d <= r * r] = 0.9
        img[..., 1][(d <= r * r) & (d > (r - 2) ** 2)] += 0.6
    img[h // 8 : h - h // 8, w // 2 : w // 2 + 6, 0] = 0.9  # crosses many seams
    return np.clip(img, 0, 1)


@pytest.mark.parametrize(
    "seed,strip_rows,margin", [(1, 50, 60), (2, 97, 64), (3, 33, 70), (4, 700, 10), (5, 16, 64), (6, 128, 48)]
)
def test_strips_equal_whole_image_postprocessing(
    tmp_path: Path, seed: int, strip_rows: int, margin: int
) -> None:
    img = _disc_image(seed, 400, 300, 40, 20)
    ref = probs_to_instances(img[..., 0], img[..., 1], min_size=20)
    res = run_job(
        segment_large(
            ProbsFromImage(), img, tmp_path / "o.tif", strip_rows=strip_rows, margin=margin, min_size=20
        )
    )
    out = tifffile.imread(tmp_path / "o.tif")
    assert res.n_objects == ref.max() and res.n_strips == len(plan_strips(400, strip_rows, margin))
    np.testing.assert_array_equal(out, ref)  # same objects, same ids (raster order)
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        assert tif.pages[0].is_memmappable  # pages back in lazily
    assert [p.name for p in tmp_path.iterdir()] == ["o.tif"]  # no temporary file left


def test_an_object_spanning_every_strip_is_one_object(tmp_path: Path) -> None:
    img = np.zeros((300, 40, 3), np.float32)
    img[..., 1] = np.random.default_rng(0).random((300, 40)) * 0.2
    img[5:295, 10:20, 0] = 0.9
    res = run_job(
        segment_large(ProbsFromImage(), img, tmp_path / "o.tif", strip_rows=8, margin=4, min_size=10)
    )
    out = tifffile.imread(tmp_path / "o.tif")
    assert res.n_objects == 1 and res.n_strips == 38
    assert set(np.unique(out)) == {0, 1} and (out == 1).sum() == 290 * 10


def test_cancelled_strip_segmentation_leaves_nothing(tmp_path: Path) -> None:
    img = _disc_image(9, 200, 100, 10, 10)
    out = tmp_path / "o.tif"
    out.write_bytes(b"previous")
    n_events = [0]
    run_job(
        segment_large(ProbsFromImage(), img, tmp_path / "x.tif", strip_rows=20, margin=8),
        lambda e: n_events.__setitem__(0, n_events[0] + 1),
    )
    for r in range(1, n_events[0]):
        cancel = CancelToken()
        seen = [0]

        def on(_e, r=r, seen=seen, cancel=cancel) -> None:
            seen[0] += 1
            if seen[0] >= r:
                cancel.cancel()

        with pytest.raises(Cancelled):
            run_job(segment_large(ProbsFromImage(), img, out, strip_rows=20, margin=8, cancel=cancel), on)
        assert out.read_bytes() == b"previous"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tif", "x.tif"]


def test_workflow_segments_large_images_through_the_strip_path(tmp_path: Path, monkeypatch) -> None:
    from qsa_gui.core.settings import Settings
    from qsa_gui.core.workflow.predict import segment_job

    monkeypatch.setattr(largeimage, "LARGE_IMAGE_PIXELS", 90 * 90)
    src = tmp_path / "big.tif"
    write_big_tiff(src, 160, 120, tile_size=64)
    small = tmp_path / "small.png"
    qio.write_image(small, np.full((40, 40, 3), 200, np.uint8))
    proj = Project.create(tmp_path / "p", settings=Settings(preset="tiny", device="cpu").to_dict())
    assert len(proj.import_images([src, small]).added) == 2
    seg = micro_segmenter(2)
    final = proj.new_model_path("seg").with_suffix("")
    seg.save(final, bits=None, meta={})
    proj.add_model(ModelVersion(version=final.name, path=f"models/{final.name}"), make_current=True)
    settings = Settings(preset="tiny", device="cpu")
    # cancelled: nothing written, no scratch file left
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        run_job(segment_job(proj, None, settings, cancel), lambda _e: cancel.cancel())
    assert sorted(p.name for p in (proj.folder / "predictions").iterdir()) == []
    out = run_job(segment_job(proj, None, settings))
    big_id, small_id = proj.images[0].id, proj.images[1].id
    assert isinstance(out[big_id], np.memmap) and out[big_id].shape == (160, 120)
    assert isinstance(out[small_id], np.ndarray) and out[small_id].shape == (40, 40)
    np.testing.assert_array_equal(proj.load_prediction(big_id), np.asarray(out[big_id]))
    direct = run_job(segment_large(seg, src, tmp_path / "direct.tif", device="cpu"))
    np.testing.assert_array_equal(tifffile.imread(direct.path), np.asarray(out[big_id]))
    assert sorted(p.name for p in (proj.folder / "predictions").iterdir()) == sorted(
        Path(proj.image(i).prediction_path).name for i in (big_id, small_id)
    )
    proj.close()
    with Project.open(tmp_path / "p") as again:
        assert again.load_prediction(big_id).shape == (160, 120)


def test_large_import_is_validated_lazily(tmp_path: Path, monkeypatch) -> None:
    from qsa_gui.core.project import store as project_mod

    monkeypatch.setattr(project_mod, "_LARGE_IMAGE_PIXELS", 50 * 50)
    calls = []
    real = qio.load_rgb
    monkeypatch.setattr(qio, "load_rgb", lambda p: calls.append(p) or real(p))
    good = tmp_path / "good.tif"
    write_big_tiff(good, 200, 150, tile_size=64)
    cut = tmp_path / "cut.tif"
    write_big_tiff(cut, 200, 150, tile_size=64, seed=1)
    cut.write_bytes(cut.read_bytes()[:-5000])
    proj = Project.create(tmp_path / "p")
    report = proj.import_images([good, cut])
    assert len(report.added) == 1 and len(report.skipped) == 1
    assert "truncated" in report.skipped[0][1]
    assert calls == []  # never decoded whole
    proj.close()


# ------------------------------------------------------------------------------ memory bound


def _probe(tmp_path: Path, h: int, w: int, strip_rows: int | None) -> dict:
    src, out = tmp_path / f"in{h}x{w}.tif", tmp_path / f"out{h}x{w}.tif"
    write_big_tiff(src, h, w)
    args = [sys.executable, "-c", MEMORY_PROBE, str(HERE), str(src), str(out)]
    if strip_rows is not None:
        args.append(str(strip_rows))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(args, capture_output=True, text=True, timeout=3000, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    stats["increase_mb"] = (stats["peak_kb"] - stats["base_kb"]) / 1024
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].shape == (h, w)
    src.unlink()
    out.unlink()
    return stats


def test_memory_is_bounded_by_the_strip_not_the_image(tmp_path: Path) -> None:
    """3000 px wide, 500 vs 2000 rows, 200-row strips: the peak memory increase is the same
    (it depends on (strip_rows + 2 margin) x width only) and far below what the whole image
    needs (float32 RGB + 3 accumulators alone: 24 bytes a pixel)."""
    short = _probe(tmp_path, 500, 3000, 200)
    tall = _probe(tmp_path, 2000, 3000, 200)
    window_px = (200 + 2 * tall["margin"]) * 3000
    print(
        f"\n3000x500: +{short['increase_mb']:.0f} MB, {short['seconds']:.1f} s; "
        f"3000x2000: +{tall['increase_mb']:.0f} MB, {tall['seconds']:.1f} s, {tall['n_objects']} objects; "
        f"window {window_px / 1e6:.2f} Mpx ({tall['how']})"
    )
    assert tall["increase_mb"] > 0
    assert tall["increase_mb"] < short["increase_mb"] + 40  # 4x the rows, same memory
    assert tall["increase_mb"] * 2**20 < 100 * window_px + 64 * 2**20
    assert tall["increase_mb"] * 2**20 < 24 * 2000 * 3000


@pytest.mark.slow
def test_memory_for_a_20000_by_20000_slide(tmp_path: Path) -> None:
    stats = _probe(tmp_path, 20000, 20000, None)
    window_px = (stats["strip_rows"] + 2 * stats["margin"]) * 20000
    print(
        f"\n20000x20000: +{stats['increase_mb']:.0f} MB peak over {stats['base_kb'] / 1024:.0f} MB, "
        f"{stats['seconds']:.0f} s, {stats['n_strips']} strips of {stats['strip_rows']} rows, "
        f"{stats['n_objects']} objects; whole-image float32 RGB alone would be 4800 MB"
    )
    assert stats["increase_mb"] * 2**20 < 100 * window_px + 64 * 2**20
    assert stats["increase_mb"] < 1500


# ------------------------------------------------------------------------------- GPU memory


class OOMModel(SAFCN):
    """Raises CUDA's out-of-memory error for batches above ``max_pixels`` (N x H x W), and for
    everything while it believes it sits on a GPU (``fake_gpu``) if ``gpu_always_oom``."""

    def __init__(self, config, max_pixels: int, gpu_always_oom: bool = False) -> None:
        super().__init__(config)
        self.max_pixels, self.fake_gpu, self.gpu_always_oom = max_pixels, True, gpu_always_oom
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        if self.fake_gpu and (self.gpu_always_oom or x.shape[0] * x.shape[2] * x.shape[3] > self.max_pixels):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(x)

    def to(self, *args, **kwargs):
        if args and torch.device(args[0]).type == "cpu":
            self.fake_gpu = False
        return super().to(*args, **kwargs)


def _oom_model(max_pixels: int, always: bool = False) -> OOMModel:
    from rel_helpers import micro_config

    torch.manual_seed(0)
    return OOMModel(micro_config(), max_pixels, always).eval()


def test_out_of_memory_halves_the_batch_with_the_same_result() -> None:
    img = np.random.default_rng(0).random((200, 260, 3), dtype=np.float32)
    model = _oom_model(max_pixels=2 * 64 * 64)
    with pytest.warns(GPUMemoryWarning, match="tile\\(s\\) at a time"):
        got = predict_tiled(model, img, tile=64, overlap=8, batch_size=8)
    model.fake_gpu = False
    want = predict_tiled(model, img, tile=64, overlap=8, batch_size=8)
    np.testing.assert_array_equal(got.gland, want.gland)
    np.testing.assert_array_equal(got.contour, want.contour)
    assert max(s[0] for s in model.calls) == 8 and any(s[0] == 2 for s in model.calls)


def test_out_of_memory_then_smaller_tiles() -> None:
    img = np.random.default_rng(1).random((150, 150, 3), dtype=np.float32)
    model = _oom_model(max_pixels=64 * 64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = predict_tiled(model, img, tile=128, overlap=8, batch_size=4)
    msgs = [str(w.message) for w in caught if issubclass(w.category, GPUMemoryWarning)]
    assert any("64 px tiles" in m for m in msgs), msgs
    assert got.gland.shape == (150, 150) and np.isfinite(got.gland).all()


def test_out_of_memory_at_the_smallest_tile_falls_back_to_the_cpu() -> None:
    img = np.random.default_rng(2).random((100, 90, 3), dtype=np.float32)
    model = _oom_model(max_pixels=0, always=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = predict_tiled(model, img, tile=128, overlap=8, batch_size=4)
    steps = [str(w.message) for w in caught if issubclass(w.category, GPUMemoryWarning)]
    assert len(steps) == 4 and "continuing on the CPU" in steps[-1], steps  # batch 2, 1, tile 64, CPU
    ref = _oom_model(max_pixels=0)
    ref.fake_gpu = False
    want = predict_tiled(ref, img, tile=128, overlap=8, batch_size=4)  # original tile and batch
    np.testing.assert_array_equal(got.gland, want.gland)


def test_other_errors_are_not_mistaken_for_out_of_memory() -> None:
    model = _oom_model(max_pixels=10**9)

    def broken(x):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_EXECUTION_FAILED")

    model.forward = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="CUDNN"):
        predict_tiled(model, np.zeros((64, 64, 3), np.float32), tile=64, overlap=8)
