"""The heat-map in a real napari viewer (Xvfb): the round's disagreement, legible and adjustable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qsa_testkit import TINY_SETTINGS, demo_truth

from qsa_gui.core.jobs import run_job  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402
from qsa_gui.core.workflow.suggest import suggest_job  # noqa: E402

N_IMAGES, SIZE = 6, 96


@pytest.fixture
def suggested(tmp_path: Path) -> Path:
    """A demo project with one image labelled and a QSA round (its ensemble stored)."""
    folder = write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)
    with Project.open(folder) as p:
        first = p.unlabelled_ids("pool")[0]
        p.save_labels(first, demo_truth(N_IMAGES, SIZE, p.image(first).name), done=True, user="t")
        rnd = run_job(suggest_job(p, TINY_SETTINGS)).round
        assert rnd.strategy == "qsa"
    return folder


@pytest.fixture
def assistant(make_assistant, qtbot):
    return make_assistant(TINY_SETTINGS)


def test_heatmap_is_the_rounds_disagreement_with_legend_and_opacity(assistant, suggested, qtbot):
    w = assistant
    assert w.open_project(suggested)
    rnd = w.project.latest_round()
    image_id = rnd.image_ids[0]
    w.show_image(image_id)
    assert w.heatmap_button.isEnabled() and not w.heat_legend.isVisible()
    with qtbot.waitSignal(w.runner.finished, timeout=120_000):
        w.toggle_heatmap(True)
    qtbot.waitUntil(lambda: w.layers.get("uncertainty") is not None and not w.is_busy, timeout=5000)
    layer = w.layers.get("uncertainty")
    heat = np.asarray(layer.data)
    # the same quantity as the table's u: its image mean
    assert layer.name == "Ensemble disagreement"
    assert float(heat.mean()) == pytest.approx(rnd.scores[image_id]["uncertainty"], rel=1e-5, abs=1e-7)
    # transparent where the members agree: alpha grows with the value from 0
    lo, hi = layer.contrast_limits
    assert (lo, hi) == (0.0, 0.25)
    alpha = layer.colormap.map(np.clip(heat.ravel() / hi, 0, 1))[:, 3]
    calm = heat.ravel() <= np.percentile(heat, 10)
    assert alpha[calm].max() <= np.percentile(heat, 10) / hi + 0.02
    assert layer.colormap.map(np.array([0.0]))[0, 3] == 0.0
    assert layer.colormap.map(np.array([1.0]))[0, 3] == pytest.approx(1.0)
    # the legend names the quantity, gives the image's mean (= u) and owns the opacity
    legend = w.heat_legend
    assert not legend.isHidden() and "Ensemble disagreement" in legend.title()
    assert f"{heat.mean():.3f} = u" in legend.meaning_label.text()
    assert "members agree" in legend.low_label.text() and "0.25" in legend.high_label.text()
    legend.opacity_slider.setValue(35)
    assert layer.opacity == pytest.approx(0.35)
    layer.opacity = 0.6  # napari's own control moves the slider
    assert legend.opacity_slider.value() == 60
    # the next image's map keeps the chosen opacity
    other = rnd.image_ids[1] if len(rnd.image_ids) > 1 else w.project.unlabelled_ids()[-1]
    with qtbot.waitSignal(w.runner.finished, timeout=120_000):
        w.show_image(other)
    qtbot.waitUntil(lambda: w.layers.get("uncertainty") is not None and not w.is_busy, timeout=5000)
    assert w.layers.get("uncertainty").opacity == pytest.approx(0.6)
    w.toggle_heatmap(False)
    assert w.layers.get("uncertainty") is None and legend.isHidden()
