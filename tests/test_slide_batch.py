"""Whole-slide segmentation: bounded-memory path, GeoJSON + OME-Zarr outputs, resumable batches, Ray."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from slide_testkit import ThresholdModel, match_iou, tiny_model_folder, write_painted

from qsa_gui.cli.main import main
from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import CancelToken, run_job
from qsa_gui.core.slides import batch
from qsa_gui.core.slides.geojson import read_features
from qsa_gui.core.slides.omezarr import read_label_level
from qsa_gui.core.slides.polygons import rasterize
from qsa_gui.core.slides.segment import segment_slide


def _as_labels(features, shape) -> np.ndarray:
    out = np.zeros(shape, np.int32)
    for i, f in enumerate(features, start=1):
        out[rasterize(f.polygons, shape)] = i
    return out


def test_segment_slide_finds_every_gland_across_strips(tmp_path: Path) -> None:
    path, truth = write_painted(tmp_path / "s.ome.tif", (640, 896), seed=9)
    events = []
    r = run_job(segment_slide(ThresholdModel(), path, tmp_path / "out", strip_rows=100), events.append)
    assert r.n_objects == truth.max() and 0 < r.tissue_fraction < 1
    assert events[-1].fraction == 1.0 and all(0 <= e.fraction <= 1 for e in events)
    data = json.loads((tmp_path / "out" / r.geojson).read_text())
    assert data["type"] == "FeatureCollection" and data["qsa"]["width"] == 896
    f0 = data["features"][0]
    uuid.UUID(f0["id"])
    assert f0["properties"]["objectType"] == "detection"
    assert f0["properties"]["measurements"]["Mean confidence"] == pytest.approx(1.0)
    back = _as_labels(read_features(tmp_path / "out" / r.geojson, (640, 896)), truth.shape)
    assert min(match_iou(truth, back)) >= 0.99
    zpath = tmp_path / "out" / r.labels
    attrs = json.loads((zpath / ".zattrs").read_text())
    ms = attrs["multiscales"][0]
    assert ms["version"] == "0.4" and [a["name"] for a in ms["axes"]] == ["y", "x"]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.5, 0.5]
    assert "image-label" in attrs
    assert min(match_iou(truth, read_label_level(zpath, 0))) >= 0.99
    assert read_label_level(zpath, 1).shape == (320, 448)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "s.geojson",
        "s.labels.ome.zarr",
        "summary.json",
    ]


def test_a_40x_slide_is_segmented_at_20x_in_full_resolution_coordinates(tmp_path: Path) -> None:
    path, truth = write_painted(tmp_path / "s40.ome.tif", (512, 768), seed=10, mpp=0.25)
    r = run_job(segment_slide(ThresholdModel(), path, tmp_path / "out"))
    assert r.scale == pytest.approx(2.0)
    back = _as_labels(read_features(tmp_path / "out" / r.geojson, (512, 768)), truth.shape)
    big = [k for k in range(1, truth.max() + 1) if (truth == k).sum() > 3000]  # over LARGE_MIN_SIZE at 20x
    ious = match_iou(truth, back)
    assert min(ious[k - 1] for k in big) > 0.9  # resampled by 2: boundaries move by a pixel


def test_batch_is_resumable_and_never_half_finished(tmp_path: Path, monkeypatch) -> None:
    slides = [write_painted(tmp_path / "in" / f"s{i}.ome.tif", (256, 384), seed=20 + i)[0] for i in range(3)]
    (tmp_path / "in" / "notes.txt").write_text("not a slide")
    assert batch.find_slides(tmp_path / "in") == slides
    out = tmp_path / "out"
    monkeypatch.setattr(batch, "segment_one", _threshold_segment_one(batch.segment_one))
    cancel = CancelToken()
    seen = []

    def stop_after_first(event) -> None:
        seen.append(event)
        if event.stage == "segmenting slides" and event.fraction > 0:
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_job(batch.segment_slides_job(slides, out, "unused", cancel=cancel), stop_after_first)
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["s0"]
    (out / ".s1.partial-999").mkdir()  # a killed run's leftover
    (out / ".s1.partial-999" / "s1.geojson").write_text("{")
    report = run_job(batch.segment_slides_job(slides, out, "unused"))
    assert [r.slide for r in report.skipped] == ["s0.ome.tif"]
    assert [r.slide for r in report.done] == ["s1.ome.tif", "s2.ome.tif"]
    assert sorted(p.name for p in out.iterdir()) == ["s0", "s1", "s2"]
    assert "2 segmented, 1 already done, 0 failed" in report.table()


def _threshold_segment_one(real):
    def run(model_dir, slide_path, out_dir, magnification, device, cancel=None):
        from qsa_gui.core.model import segmenter

        original = segmenter.Segmenter.load
        segmenter.Segmenter.load = classmethod(lambda cls, folder, device=None: ThresholdModel())
        try:
            return (yield from real(model_dir, slide_path, out_dir, magnification, device, cancel))
        finally:
            segmenter.Segmenter.load = original

    return run


def test_cli_segment_slides_with_a_real_model(tmp_path: Path, capsys) -> None:
    write_painted(tmp_path / "in" / "a.ome.tif", (256, 384), seed=30)
    (tmp_path / "in" / "bad.svs").write_bytes(b"II*\x00" + b"\x00" * 100)
    model = tiny_model_folder(tmp_path)
    argv = [
        "segment-slides",
        str(tmp_path / "in"),
        "--out",
        str(tmp_path / "out"),
        "--model",
        str(model),
        "-q",
    ]
    assert main(argv) == 2  # the broken slide failed, the good one is done
    out = capsys.readouterr().out
    assert "a.ome.tif" in out and "done" in out and "bad.svs" in out and "failed" in out
    assert (tmp_path / "out" / "a" / "summary.json").is_file()
    assert main(argv) == 2
    assert "skipped" in capsys.readouterr().out


class _Everywhere:
    """A badly trained model: every pixel a gland (what a model of one region does on glass)."""

    overlap = 16

    def probabilities(self, image, device=None, cancel=None):
        ones = np.ones(image.shape[:2], np.float32)
        return ones, np.zeros_like(ones)


def test_glass_never_becomes_a_gland(tmp_path: Path) -> None:
    """Strips run the model over glass beside the tissue; off the tissue mask (grown by a few
    low-res pixels) the probabilities are zero, so the glands stay on the tissue band."""
    path, _ = write_painted(tmp_path / "s.ome.tif", (512, 1024), seed=4)  # tissue: x 102..921
    r = run_job(segment_slide(_Everywhere(), path, tmp_path / "out", strip_rows=128))
    feats = read_features(tmp_path / "out" / r.geojson, (512, 1024))
    assert feats, "the tissue itself is segmented"
    for f in feats:
        for poly in f.polygons:
            xs = poly[0][:, 0]
            assert xs.min() > 102 - 40 and xs.max() < 922 + 40, (xs.min(), xs.max())
