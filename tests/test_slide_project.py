"""Slides in a project: import as regions, region pixels, manifest validation, the loop on regions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import TINY_SETTINGS
from slide_testkit import write_painted

from qsa_gui.cli.main import main
from qsa_gui.core.data.images import write_image
from qsa_gui.core.errors import ProjectError
from qsa_gui.core.jobs import run_job
from qsa_gui.core.project.store import Project
from qsa_gui.core.slides.reader import open_slide
from qsa_gui.core.slides.regions import RegionSpec
from qsa_gui.core.slides.synth import ArraySlide, write_slide

CMU = Path(__file__).parent / "data" / "cmu_small_region.svs"
SMALL = RegionSpec(size=(96, 128), magnification=20.0, min_tissue=0.25)


def test_import_svs_regions_read_from_the_slide(tmp_path: Path) -> None:
    jpg = tmp_path / "photo.png"
    write_image(jpg, np.full((40, 50, 3), 200, np.uint8))
    with Project.create(tmp_path / "p") as p:
        report = p.import_images([CMU, jpg])
        assert report.skipped == [] and len(report.slides) == 1
        s = report.slides[0]
        assert s["regions"] == len(report.added) - 1 >= 4 and s["mpp"] == pytest.approx(0.499)
        slide = p.slides[0]
        assert (p.folder / slide.path).is_file() and slide.tissue  # copied in, outlines kept
        views = p.slide_regions(slide.id)
        assert [v.image_id for v in views] and all(v.tissue >= 0.25 and v.rank is None for v in views)
        v = views[0]
        img = p.load_image(v.image_id)
        assert img.shape == (522, 775, 3) and img.dtype == np.float32
        with open_slide(CMU) as s:
            y0, y1, x0, x1 = v.box
            np.testing.assert_allclose(img, s.read(0, y0, y1, x0, x1) / 255.0, atol=1e-6)
        assert p.image(report.added[-1]).region is None  # the photo stays an image
        again = p.import_images([CMU])
        assert again.added == [] and "already in project" in again.skipped[0][1]
    with Project.open(tmp_path / "p", read_only=True) as q:  # reopens exactly
        assert len(q.slides) == 1 and q.slide_regions(q.slides[0].id) == views
        assert q.missing_images() == []
    manifest = json.loads((tmp_path / "p" / "project.json").read_text())
    assert manifest["schema_version"] == 2 and "region" not in manifest["images"][-1]


def test_a_project_without_slides_stays_schema_1(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p"):
        pass
    assert json.loads((tmp_path / "p" / "project.json").read_text())["schema_version"] == 1


def test_background_never_enters_and_a_blank_slide_is_skipped(tmp_path: Path) -> None:
    blank = write_slide(tmp_path / "blank.ome.tif", ArraySlide(np.full((300, 400, 3), 242, np.uint8)))
    path, _ = write_painted(tmp_path / "half.ome.tif", (512, 768), seed=4)
    with Project.create(tmp_path / "p") as p:
        report = p.import_images([blank, path], region_spec=SMALL)
        assert report.skipped[0][0].endswith("blank.ome.tif") and "no tissue" in report.skipped[0][1]
        assert len(p.slides) == 1
        for v in p.slide_regions(p.slides[0].id):
            assert v.tissue >= SMALL.min_tissue
            # painted tissue spans columns 10%..90%: a region entirely on glass cannot exist
            assert v.box[3] > 0.1 * 768 and v.box[2] < 0.9 * 768


def test_a_bad_slide_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "cut.svs"
    bad.write_bytes(CMU.read_bytes()[:500_000])
    with Project.create(tmp_path / "p") as p:
        report = p.import_images([bad])
        assert report.added == [] and report.slides == [] and len(report.skipped) == 1
        assert p.slides == [] and p.images == []
        assert list((p.folder / "images").iterdir()) == []


def test_a_40x_slide_gives_20x_regions(tmp_path: Path) -> None:
    path, _ = write_painted(tmp_path / "s40.ome.tif", (768, 1024), seed=5, mpp=0.25)
    with Project.create(tmp_path / "p") as p:
        p.import_images([path], region_spec=SMALL)
        slide = p.slides[0]
        assert slide.scale == pytest.approx(2.0) and any("objective power unknown" in n for n in slide.notes)
        v = p.slide_regions(slide.id)[0]
        assert (v.box[1] - v.box[0], v.box[3] - v.box[2]) == (192, 256)
        assert p.load_image(v.image_id).shape == (96, 128, 3)


@pytest.mark.parametrize(
    "mangle, expected",
    [
        (lambda m: m["images"][0]["region"].update(slide="slide_0099"), "unknown slide"),
        (lambda m: m["images"][0]["region"].update(box=[0, 10**6, 0, 10]), "outside slide"),
        (lambda m: m["images"][0]["region"].update(box=[5, 5, 0, 10]), "y0 < y1"),
        (lambda m: m["slides"][0].update(mpp="half"), "mpp"),
        (lambda m: m["slides"].append(dict(m["slides"][0])), "duplicate slide ids"),
    ],
)
def test_bad_region_records_are_refused(tmp_path: Path, mangle, expected: str) -> None:
    path, _ = write_painted(tmp_path / "s.ome.tif", (256, 384), seed=7)
    with Project.create(tmp_path / "p") as p:
        p.import_images([path], region_spec=SMALL)
    mf = tmp_path / "p" / "project.json"
    m = json.loads(mf.read_text())
    mangle(m)
    mf.write_text(json.dumps(m))
    with pytest.raises(ProjectError, match=expected):
        Project.open(tmp_path / "p")


def test_a_moved_reference_slide_marks_its_regions_missing(tmp_path: Path) -> None:
    src = tmp_path / "ref.svs"
    shutil.copy(CMU, src)
    with Project.create(tmp_path / "p") as p:
        p.import_images([src], copy=False)
        n = len(p.images)
    src.unlink()
    with Project.open(tmp_path / "p", read_only=True) as q:
        assert len(q.missing_images()) == n and q.slides[0].missing


def test_cli_import_prints_regions_and_pixel_size(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path / "p")]) == 0
    renamed = tmp_path / "cmu.tif"
    shutil.copy(CMU, renamed)
    assert main(["import", str(tmp_path / "p"), str(renamed), "--region-size", "775x522"]) == 0
    out = capsys.readouterr().out
    assert "regions at 20x" in out and "0.499 µm/px" in out and "scanned at 20x" in out


def test_the_loop_runs_on_regions(tmp_path: Path) -> None:
    from qsa_gui.core.workflow.predict import segment_job
    from qsa_gui.core.workflow.retrain import retrain_job
    from qsa_gui.core.workflow.suggest import suggest_job

    path, truth = write_painted(tmp_path / "loop.ome.tif", (384, 512), seed=6)
    settings = TINY_SETTINGS.updated(iterations=10, seed=1)
    with Project.create(tmp_path / "p", settings=settings.to_dict()) as p:
        p.import_images([path], region_spec=RegionSpec(size=(96, 128), min_tissue=0.5))
        views = p.slide_regions(p.slides[0].id)
        assert len(views) >= 6
        for v in views[:3]:
            y0, y1, x0, x1 = v.box
            p.save_labels(v.image_id, truth[y0:y1, x0:x1], done=True, user="test")
        rnd = run_job(suggest_job(p, settings)).round
        assert rnd.image_ids and set(rnd.image_ids) <= {v.image_id for v in views[3:]}
        ranked = [v for v in p.slide_regions(p.slides[0].id) if v.rank is not None]
        assert sorted(v.rank for v in ranked) == list(range(1, len(ranked) + 1))
        assert run_job(retrain_job(p, settings)).version.accepted is not None
        preds = run_job(segment_job(p, [views[4].image_id], settings))
        assert preds[views[4].image_id].shape == (96, 128)
        assert p.history()
