"""The slide overview's view-model without Qt: kinds, colours, captions, hit test, outlines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsa_gui.components.session import Session
from qsa_gui.components.slides import (
    KIND_COLOURS,
    KIND_LABELLED,
    KIND_OTHER,
    KIND_SUGGESTED,
    outline_paths,
    region_at,
    region_shapes,
    score_words,
    slide_of,
    slide_summaries,
)
from qsa_gui.core.data.images import write_image
from qsa_gui.core.project.records import SuggestionRound
from qsa_gui.core.project.store import Project

CMU = Path(__file__).resolve().parents[1] / "data" / "cmu_small_region.svs"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slides") / "p"
    photo = folder.parent / "photo.png"
    write_image(photo, np.full((40, 50, 3), 200, np.uint8))
    p = Project.create(folder)
    p.import_images([CMU, photo])
    yield p
    p.close()


def _session(p: Project) -> Session:
    s = Session()
    s.project = p
    return s


def test_regions_of_the_cmu_slide_become_grey_rectangles_without_a_round(project: Project) -> None:
    slide = project.slides[0]
    shapes = region_shapes(project, slide.id, {})
    views = project.slide_regions(slide.id)
    assert [s.image_id for s in shapes] == [v.image_id for v in views] and len(shapes) >= 4
    assert {s.kind for s in shapes} == {KIND_OTHER} and all(s.text == "" for s in shapes)
    s0 = shapes[0]
    y0, y1, x0, x1 = s0.box
    np.testing.assert_array_equal(s0.corners(), [[y0, x0], [y0, x1], [y1, x1], [y1, x0]])
    assert s0.colour == KIND_COLOURS[KIND_OTHER] and "tissue" in s0.tooltip
    photo = project.images[-1].id
    assert slide_of(project, s0.image_id) == slide.id and slide_of(project, photo) is None
    assert slide_of(None, photo) is None and slide_of(project, None) is None


def test_suggested_and_labelled_regions_get_their_colour_rank_and_scores(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        p.import_images([CMU])
        sid = p.slides[0].id
        ids = [v.image_id for v in p.slide_regions(sid)]
        a, b, c = ids[2], ids[0], ids[1]
        scores = {a: {"rank": 1, "uncertainty": 0.4123, "representativeness": 0.871},
                  b: {"rank": 2, "uncertainty": 0.2, "representativeness": 0.5}}  # fmt: skip
        p.add_round(SuggestionRound(strategy="qsa", image_ids=[a, b], scores=scores))
        p.save_labels(b, np.zeros(p.image(b).shape, np.int32), done=True)
        ranks = _session(p).ranks()
        by_id = {s.image_id: s for s in region_shapes(p, sid, ranks)}
        assert by_id[a].kind == KIND_SUGGESTED and by_id[a].text == "#1 u=0.412 r=0.87"
        assert by_id[a].colour == KIND_COLOURS[KIND_SUGGESTED] and by_id[a].rank == 1
        assert "suggested #1" in by_id[a].tooltip
        assert by_id[b].kind == KIND_LABELLED and by_id[b].text == "#2 u=0.200 r=0.50 ✓"
        assert by_id[c].kind == KIND_OTHER and by_id[c].rank is None
        summary = slide_summaries(p, ranks)[0]
        assert (summary.n_regions, summary.n_suggested, summary.n_labelled) == (len(ids), 1, 1)
        assert summary.text.startswith("cmu_small_region.svs: ")


def test_a_round_before_any_model_shows_ranks_without_scores() -> None:
    assert score_words({"uncertainty": 0.0, "representativeness": 0.0, "strategy": "diverse"}) == ""
    assert score_words({"uncertainty": 0.5, "strategy": "qsa"}) == "u=0.500"
    assert score_words(None) == ""


def test_a_click_opens_the_region_it_is_most_inside_of(project: Project) -> None:
    shapes = region_shapes(project, project.slides[0].id, {})
    for s in shapes:
        y0, y1, x0, x1 = s.box
        assert region_at(shapes, (y0 + y1) / 2, (x0 + x1) / 2) == s.image_id
    assert region_at(shapes, -5, -5) is None
    h, w = project.slides[0].shape
    assert region_at(shapes, h + 1, w + 1) is None


def test_tissue_outlines_are_row_column_paths_inside_the_slide(project: Project) -> None:
    slide = project.slides[0]
    paths = outline_paths(project, slide.id)
    assert paths and all(p.ndim == 2 and p.shape[1] == 2 for p in paths)
    h, w = slide.shape
    allp = np.concatenate(paths)
    assert allp[:, 0].min() >= 0 and allp[:, 0].max() <= h and allp[:, 1].max() <= w
    np.testing.assert_allclose(paths[0][:, ::-1], project.tissue_outlines(slide.id)[0])
