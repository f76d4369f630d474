"""Whole-slide reading: the real CMU SVS region, generated OME / NDPI-like / BigTIFF slides, bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from slide_testkit import write_painted

from qsa_gui.core.errors import InputFileError
from qsa_gui.core.slides.reader import looks_like_slide, open_slide
from qsa_gui.core.slides.regions import RegionSpec, plan_regions, read_region_pixels
from qsa_gui.core.slides.synth import SyntheticSlide, write_slide
from qsa_gui.core.slides.tissue import detect_tissue, low_res

CMU = Path(__file__).parent / "data" / "cmu_small_region.svs"


def test_cmu_svs_metadata_and_pixels() -> None:
    with open_slide(CMU) as s:
        info = s.info
        assert info.format == "aperio-svs" and info.shape == (2967, 2220)
        assert info.mpp == pytest.approx(0.499) and info.objective_power == 20 and info.notes == ()
        box = s.read(0, 100, 622, 200, 975)
    with tifffile.TiffFile(CMU) as t:
        truth = t.series[0].asarray()[100:622, 200:975]
    np.testing.assert_array_equal(box, truth)


def test_cmu_renamed_tif_is_still_a_slide(tmp_path: Path) -> None:
    renamed = tmp_path / "region.tif"
    shutil.copy(CMU, renamed)
    assert looks_like_slide(renamed) and looks_like_slide(CMU)
    with open_slide(renamed) as s:
        assert s.info.format == "aperio-svs"


def test_cmu_tissue_and_regions_cover_the_tissue_only() -> None:
    with open_slide(CMU) as s:
        mask = detect_tissue(low_res(s), s.info.mpp)
        plan = plan_regions(s.info, mask, RegionSpec())
        assert 0.1 < mask.fraction < 0.9 and mask.outlines
        assert len(plan.regions) >= 4 and plan.scale == 1.0
        assert all(r.tissue >= 0.25 for r in plan.regions)
        px = read_region_pixels(s, plan.regions[0].box, plan.scale)
        assert px.shape == (522, 775, 3) and px.dtype == np.uint8
    # the outline polygons are level-0 (x, y) inside the slide
    pts = np.vstack(mask.outlines)
    assert pts[:, 0].max() <= 2220 + 2 and pts[:, 1].max() <= 2967 + 2


@pytest.mark.parametrize("kind", ["ome", "ndpi", "bigtiff"])
def test_generated_slides_read_with_levels_and_pixel_size(tmp_path: Path, kind: str) -> None:
    path, labels = write_painted(tmp_path / f"s.{kind}.tif", (512, 768), seed=1, kind=kind, mpp=0.25)
    assert looks_like_slide(path)
    with open_slide(path) as s:
        info = s.info
        assert info.shape == (512, 768) and info.mpp == pytest.approx(0.25)
        assert len(info.levels) == (1 if kind == "bigtiff" else 3)
        assert info.format == {"ome": "ome-tiff", "ndpi": "hamamatsu-ndpi", "bigtiff": "tiff"}[kind]
        if kind == "ndpi":
            assert info.objective_power == 20 and info.notes == ()
        else:  # no objective power in the file: said, and derived from the pixel size
            assert info.objective_power is None and info.magnification == pytest.approx(40)
            assert any("objective power unknown" in n for n in info.notes)
        # a 20x region of a 40x slide: half the level-0 pixels, read from level 1 when there is one
        px = s.read_region((0, 200, 0, 300), (100, 150))
        assert px.shape == (100, 150, 3)


def test_unknown_pixel_size_is_said(tmp_path: Path) -> None:
    path, _ = write_painted(tmp_path / "nompp.ome.tif", (256, 384), seed=2, mpp=None)
    with open_slide(path) as s:
        assert s.info.mpp is None and s.info.magnification is None
        assert any("pixel size unknown" in n for n in s.info.notes)
        plan = plan_regions(s.info, detect_tissue(low_res(s)), RegionSpec(size=(64, 64)))
    assert plan.scale == 1.0 and any("magnification unknown" in n for n in plan.notes)


def test_single_level_low_res_is_block_averaged(tmp_path: Path) -> None:
    path = write_slide(tmp_path / "flat.tif", SyntheticSlide((1200, 900), content="plain"), kind="bigtiff")
    with open_slide(path) as s:
        view = low_res(s, max_side=256)
    assert max(view.image.shape[:2]) <= 256 and view.downsample == 5


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b[: len(b) // 2], "truncated"),  # the SVS directories sit at the end
        (lambda b: b"\x00" * 4096, "cannot read as a slide"),
        (lambda b: b"", "cannot read as a slide"),
    ],
)
def test_bad_slides_are_one_clear_error(tmp_path: Path, damage, reason: str) -> None:
    bad = tmp_path / "bad.svs"
    bad.write_bytes(damage(CMU.read_bytes()))
    with pytest.raises(InputFileError, match=reason) as info:
        open_slide(bad).close()
    assert info.value.path == bad


def test_truncated_tiles_are_refused_on_open(tmp_path: Path) -> None:
    path, _ = write_painted(tmp_path / "t.ome.tif", (512, 768), seed=3)
    data = path.read_bytes()
    with tifffile.TiffFile(path) as t:  # cut inside the tile data, keep every directory
        cut = int(t.series[0].levels[0].pages[0].dataoffsets[-1]) + 10
    path.write_bytes(data[:cut])
    with pytest.raises(InputFileError, match="truncated"):
        open_slide(path)


def test_a_stack_is_not_a_slide(tmp_path: Path) -> None:
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 64, 64), np.uint8), metadata={"axes": "ZYX"})
    with pytest.raises(InputFileError, match="stack"):
        open_slide(path)
