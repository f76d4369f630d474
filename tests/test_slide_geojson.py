"""QuPath GeoJSON: polygons with holes, the round trip, bad files refused, annotations -> region labels."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from slide_testkit import match_iou, write_painted

from qsa_gui.cli.main import main
from qsa_gui.core.data.synth import generate_sample
from qsa_gui.core.errors import InputFileError
from qsa_gui.core.project.store import Project
from qsa_gui.core.slides.annotations import export_region_labels, import_annotations
from qsa_gui.core.slides.geojson import label_features, read_features, region_labels, write_feature_collection
from qsa_gui.core.slides.polygons import is_simple, mask_to_polygons, rasterize, signed_area
from qsa_gui.core.slides.regions import RegionSpec


def _write(path: Path, features, meta=None) -> Path:
    buf = io.StringIO()
    write_feature_collection(buf, features, meta)
    path.write_text(buf.getvalue())
    return path


def test_holes_and_pieces_become_valid_polygons() -> None:
    m = np.zeros((40, 40), bool)
    m[2:30, 2:30] = True
    m[8:14, 8:14] = False  # a lumen
    m[34:38, 34:38] = True  # a second piece
    polys = mask_to_polygons(m)
    assert len(polys) == 2 and len(polys[0]) == 2 and len(polys[1]) == 1
    outer, hole = polys[0]
    assert signed_area(outer) > 0 > signed_area(hole)  # outer counter-clockwise, hole clockwise
    assert all(is_simple(r) for p in polys for r in p)
    np.testing.assert_array_equal(rasterize(polys, m.shape), m)


def test_round_trip_keeps_every_instance(tmp_path: Path) -> None:
    labels = generate_sample(11, (256, 320)).labels
    offset, scale = (1000.0, 500.0), 2.0  # a 20x region at x 1000, y 500 of a 40x slide
    feats = list(label_features(labels, offset=offset, scale=scale, mpp=0.25, object_type="annotation"))
    assert len(feats) == labels.max()
    f0 = feats[0]
    assert str(uuid.UUID(f0["id"])) == f0["id"]
    assert f0["properties"]["objectType"] == "annotation"
    assert f0["properties"]["classification"]["name"] == "Gland"
    assert f0["properties"]["measurements"]["Area µm^2"] > 0
    path = _write(tmp_path / "r.geojson", feats, {"name": "s.svs", "width": 4000, "height": 3000})
    back = read_features(path, (3000, 4000))
    box = (500, 500 + 2 * 256, 1000, 1000 + 2 * 320)
    got = region_labels(back, box, scale, labels.shape)
    ious = match_iou(labels, got)
    assert min(ious) >= 0.99, ious
    assert int(got.max()) == int(labels.max())


def _feature(geometry) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"objectType": "annotation"}}


SQUARE = [[[10, 10], [50, 10], [50, 50], [10, 50], [10, 10]]]


@pytest.mark.parametrize(
    "content, reason",
    [
        ("{not json", "not a JSON file"),
        (json.dumps({"type": "Topology"}), "not GeoJSON"),
        (json.dumps([_feature({"type": "Point", "coordinates": [1, 2]})]), "is not Polygon or MultiPolygon"),
        (json.dumps([_feature({"type": "LineString", "coordinates": [[1, 2], [3, 4]]})]), "LineString"),
        (
            json.dumps([_feature({"type": "Polygon", "coordinates": [[[0, 0], [9000, 0], [0, 9], [0, 0]]]})]),
            "outside",
        ),
        (
            json.dumps(
                [_feature({"type": "Polygon", "coordinates": [[[0, 0], [20, 20], [20, 0], [0, 20], [0, 0]]]})]
            ),
            "intersects itself",
        ),  # fmt: skip
        (
            json.dumps(
                [_feature({"type": "Polygon", "coordinates": [[[0, 0], [20, 0], [20, 20], [0, 20]]]})]
            ),
            "not closed",
        ),
        (
            json.dumps({"type": "FeatureCollection", "qsa": {"width": 99, "height": 77}, "features": []}),
            "made for a slide of 99 x 77",
        ),  # fmt: skip
        (json.dumps([{"type": "Feature", "geometry": None}]), "geometry is missing"),
    ],
)
def test_bad_geojson_is_refused(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(InputFileError, match=reason) as info:
        read_features(path, (1000, 2000))
    assert info.value.path == path


@pytest.fixture
def slide_project(tmp_path: Path):
    path, truth = write_painted(tmp_path / "s.ome.tif", (512, 768), seed=8)
    p = Project.create(tmp_path / "p")
    p.import_images([path], region_spec=RegionSpec(size=(128, 192), min_tissue=0.25))
    yield p, truth
    p.close()


def test_annotations_become_region_labels_and_export_back(slide_project, tmp_path: Path) -> None:
    p, truth = slide_project
    slide = p.slides[0]
    whole = _write(tmp_path / "qupath.geojson", label_features(truth, object_type="annotation"))
    r = import_annotations(p, slide.id, whole)
    assert r.features == truth.max() and r.regions
    for v in p.slide_regions(slide.id):
        y0, y1, x0, x1 = v.box
        expect = truth[y0:y1, x0:x1]
        got = p.load_labels(v.image_id)
        if expect.any():
            assert got is not None and p.image(v.image_id).status == "labelled"
            assert min(match_iou(_relabel(expect), got)) >= 0.99
    out = tmp_path / "export.geojson"
    n = export_region_labels(p, slide.id, out)
    assert n >= r.objects and read_features(out, slide.shape)


def _relabel(a: np.ndarray) -> np.ndarray:
    ids = np.unique(a[a > 0])
    lut = np.zeros(int(a.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[a]


def test_a_bad_file_imports_nothing(slide_project, tmp_path: Path) -> None:
    p, truth = slide_project
    feats = list(label_features(truth))
    feats.append(_feature({"type": "Polygon", "coordinates": [[[0, 0], [20, 20], [20, 0], [0, 20], [0, 0]]]}))
    bad = _write(tmp_path / "bad.geojson", feats)
    before = (p.folder / "project.json").read_bytes()
    with pytest.raises(InputFileError, match="feature .* intersects itself"):
        import_annotations(p, p.slides[0].id, bad)
    assert (p.folder / "project.json").read_bytes() == before and not p.labelled_ids()


def test_cli_slide_annotations_and_export(slide_project, tmp_path: Path, capsys) -> None:
    p, truth = slide_project
    folder, name = p.folder, p.slides[0].name
    p.close()
    ann = _write(tmp_path / "a.geojson", label_features(truth))
    assert main(["slide-annotations", str(folder), name, str(ann)]) == 0
    assert "objects in" in capsys.readouterr().out
    assert main(["slide-export", str(folder), "slide_0001", str(tmp_path / "o.geojson")]) == 0
    bad = tmp_path / "x.geojson"
    bad.write_text("[1, 2]")
    assert main(["slide-annotations", str(folder), name, str(bad)]) == 2
    assert "not a GeoJSON Feature" in capsys.readouterr().err
