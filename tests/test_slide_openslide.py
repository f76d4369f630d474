"""The OpenSlide reader (MIRAX / DICOM / SCN / VMS / BIF through ``qsa-gui[openslide]``): same
interface and pixels as the tifffile reader, referenced not copied, clear errors with and
without the extra. A real DICOM WSI is generated here (one ``.dcm`` per level, one series, as
scanners write them) and read pixel for pixel; no MIRAX file can be generated, so the real CMU
Aperio region stands in for the other formats (OpenSlide reads it by content whatever the suffix)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from slide_testkit import ThresholdModel, match_iou, painted, write_dicom_slide, write_painted

from qsa_gui.cli.common import expand_paths
from qsa_gui.core.errors import InputFileError
from qsa_gui.core.jobs import run_job
from qsa_gui.core.project.store import Project
from qsa_gui.core.slides.batch import find_slides
from qsa_gui.core.slides.geojson import read_features
from qsa_gui.core.slides.polygons import rasterize
from qsa_gui.core.slides.reader import looks_like_slide, open_slide
from qsa_gui.core.slides.regions import RegionSpec
from qsa_gui.core.slides.segment import segment_slide

CMU = Path(__file__).parent / "data" / "cmu_small_region.svs"
needs_openslide = pytest.mark.skipif(
    importlib.util.find_spec("openslide") is None,
    reason="openslide is not installed (pip install 'qsa-gui[openslide]')",
)


@pytest.fixture
def dicom_slide(tmp_path: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """A 3-level DICOM WSI of painted glands in ``tmp_path/scan``: (files, rgb, labels)."""
    pytest.importorskip("pydicom")
    rgb, labels = painted((1024, 1536), seed=4)
    return write_dicom_slide(tmp_path / "scan", rgb, tile=256, levels=3, mpp=0.5), rgb, labels


@needs_openslide
def test_openslide_reads_the_cmu_region_like_tifffile() -> None:
    with open_slide(CMU, backend="openslide") as o, open_slide(CMU) as t:
        assert type(o).__name__ == "OpenSlideSlide" and o.info.format == "openslide-aperio"
        assert (o.info.shape, o.info.mpp, o.info.objective_power) == (t.info.shape, t.info.mpp, 20.0)
        np.testing.assert_array_equal(o.read(0, 100, 622, 200, 975), t.read(0, 100, 622, 200, 975))
        box = (500, 1544, 300, 1850)
        np.testing.assert_array_equal(o.read_region(box, (522, 775)), t.read_region(box, (522, 775)))


@needs_openslide
def test_a_pyramid_through_openslide_has_every_level(tmp_path: Path) -> None:
    path, _ = write_painted(tmp_path / "p.tif", (1024, 1536), seed=3, kind="bigtiff", levels=3)
    with open_slide(path, backend="openslide") as o, open_slide(path) as t:
        assert [lv.shape for lv in o.info.levels] == [lv.shape for lv in t.info.levels]
        lv = len(o.info.levels) - 1
        h, w = o.info.levels[lv].shape
        diff = np.abs(o.read(lv, 0, h, 0, w).astype(int) - t.read(lv, 0, h, 0, w).astype(int))
        assert diff.max() <= 2  # the same zlib tiles, decoded by two libraries


@needs_openslide
def test_an_openslide_format_imports_as_regions_referenced_in_place(tmp_path: Path) -> None:
    scn = tmp_path / "scans" / "cmu.scn"
    scn.parent.mkdir()
    shutil.copy(CMU, scn)
    assert looks_like_slide(scn)
    with Project.create(tmp_path / "p") as p:
        report = p.import_images([scn], region_spec=RegionSpec())
        assert not report.skipped and len(p.slides) == 1
        rec = p.slides[0]
        assert not rec.copied and Path(rec.path) == scn.absolute()
        assert any("referenced where it is" in n for n in rec.notes)
        assert not list((Path(p.folder) / "images").glob("slide_*"))
        region = p.slide_regions(rec.id)[0]
        assert p.load_image(region.image_id).shape == (522, 775, 3)


@needs_openslide
def test_a_broken_openslide_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mrxs"
    bad.write_bytes(b"[GENERAL]\nnot really a MIRAX index\n")
    with pytest.raises(InputFileError) as e:
        open_slide(bad)
    assert str(bad) in str(e.value) and "slide" in e.value.reason


def test_without_the_extra_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openslide", None)  # `import openslide` raises ImportError
    slide = tmp_path / "case.mrxs"
    slide.write_bytes(b"x")
    with pytest.raises(InputFileError) as e:
        open_slide(slide)
    assert e.value.path == slide and "pip install 'qsa-gui[openslide]'" in e.value.reason
    with Project.create(tmp_path / "p") as p:
        report = p.import_images([slide])
        assert not p.slides and not p.images
        assert "qsa-gui[openslide]" in report.skipped[0][1]


@needs_openslide
def test_a_dicom_wsi_reads_pixel_for_pixel_from_any_of_its_files(dicom_slide) -> None:
    files, rgb, _ = dicom_slide
    for f in (files[0], files[2]):  # OpenSlide opens the whole series from any of its files
        with open_slide(f) as s:
            assert s.info.format == "openslide-dicom" and s.info.shape == (1024, 1536)
            assert s.info.mpp == pytest.approx(0.5)
            assert [lv.shape for lv in s.info.levels] == [(1024, 1536), (512, 768), (256, 384)]
            np.testing.assert_array_equal(s.read(0, 100, 622, 200, 975), rgb[100:622, 200:975])
            np.testing.assert_array_equal(s.read(2, 0, 256, 0, 384), rgb[::4, ::4])


@needs_openslide
def test_a_dicom_folder_is_one_slide_for_import_batch_and_drop(dicom_slide, tmp_path: Path) -> None:
    files, rgb, _ = dicom_slide
    folder = files[0].parent
    (folder / "notes.txt").write_text("scanner log")
    assert expand_paths([str(folder)]) == [files[0]]
    assert find_slides(folder) == [files[0]]
    with Project.create(tmp_path / "p") as p:
        report = p.import_images(files, region_spec=RegionSpec())
        assert len(p.slides) == 1 and not p.slides[0].copied
        assert p.slides[0].name == "scan.dcm"  # the series' folder, not "level0.dcm"
        assert sorted(Path(path).name for path, _ in report.skipped) == ["level1.dcm", "level2.dcm"]
        assert all("part of the DICOM slide level0.dcm" in why for _, why in report.skipped)
        region = p.slide_regions(p.slides[0].id)[0]
        assert p.load_image(region.image_id).shape == (522, 775, 3)


@needs_openslide
def test_a_dicom_slide_segments_every_gland(dicom_slide, tmp_path: Path) -> None:
    files, _, truth = dicom_slide
    r = run_job(segment_slide(ThresholdModel(), files[0], tmp_path / "out", strip_rows=300))
    assert r.n_objects == truth.max() and r.geojson == "scan.geojson"
    got = np.zeros(truth.shape, np.int32)
    for i, f in enumerate(read_features(tmp_path / "out" / r.geojson, truth.shape), start=1):
        got[rasterize(f.polygons, truth.shape)] = i
    assert min(match_iou(truth, got)) >= 0.99


@needs_openslide
def test_a_truncated_dicom_slide_is_refused_naming_the_file(dicom_slide, tmp_path: Path) -> None:
    files, _, _ = dicom_slide
    bad = tmp_path / "cut" / "level0.dcm"
    bad.parent.mkdir()
    bad.write_bytes(files[0].read_bytes()[:4096])
    with pytest.raises(InputFileError) as e:
        with open_slide(bad) as s:
            s.read(0, 0, 512, 0, 512)
    assert e.value.path == bad
    with Project.create(tmp_path / "p") as p:
        report = p.import_images([bad])
        assert not p.slides and not p.images and report.skipped[0][0] == str(bad)
