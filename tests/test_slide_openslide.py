"""The OpenSlide reader (MIRAX / DICOM / SCN / VMS / BIF through ``qsa-gui[openslide]``): same
interface and pixels as the tifffile reader, referenced not copied, clear errors with and
without the extra. No MIRAX or DICOM file is at hand, so the real CMU Aperio region stands in
(OpenSlide reads it by content whatever the suffix) and every path of the reader runs on it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from slide_testkit import write_painted

from qsa_gui.core.errors import InputFileError
from qsa_gui.core.project.store import Project
from qsa_gui.core.slides.reader import looks_like_slide, open_slide
from qsa_gui.core.slides.regions import RegionSpec

CMU = Path(__file__).parent / "data" / "cmu_small_region.svs"
needs_openslide = pytest.mark.skipif(
    importlib.util.find_spec("openslide") is None,
    reason="openslide is not installed (pip install 'qsa-gui[openslide]')",
)


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
