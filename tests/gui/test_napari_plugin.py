"""The napari plugin: npe2 manifest, reader, writer, sample data and the dock widget."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
npe2 = pytest.importorskip("npe2")

import napari_qsa  # noqa: E402
from napari_qsa._reader import get_reader, project_layers  # noqa: E402
from napari_qsa._sample_data import make_sample_data  # noqa: E402
from napari_qsa._widget import AssistantDock, find_assistant  # noqa: E402
from napari_qsa._writer import write_labels  # noqa: E402

from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui.core.data.images import read_labels, write_image  # noqa: E402
from qsa_gui.core.data.images import write_labels as core_write_labels  # noqa: E402
from qsa_gui.core.data.synth import generate_sample  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

MANIFEST = Path(napari_qsa.__file__).with_name("napari.yaml")
PLUGIN = "qsa-gui"  # npe2 requires the manifest name to equal the distribution name


@pytest.fixture
def project_folder(tmp_path: Path) -> Path:
    return write_demo_project(tmp_path / "proj", n_images=6, size=64)


def test_manifest_validates_and_is_discoverable():
    from npe2 import PluginManifest

    mf = PluginManifest.from_file(MANIFEST)
    assert mf.name == PLUGIN
    c = mf.contributions
    commands = {cmd.id: cmd.python_name for cmd in c.commands}
    assert commands[c.widgets[0].command] == "napari_qsa._widget:AssistantDock"
    assert c.readers[0].accepts_directories and "*.tif" in c.readers[0].filename_patterns
    assert c.writers[0].layer_types == ["labels"] and ".tif" in c.writers[0].filename_extensions
    assert c.sample_data[0].key == "glands"
    for python_name in commands.values():  # every command resolves to an importable object
        module, attr = python_name.split(":")
        assert callable(getattr(__import__(module, fromlist=[attr]), attr))
    eps = {ep.name: ep.value for ep in entry_points(group="napari.manifest")}
    assert eps.get("napari-qsa") == "napari_qsa:napari.yaml"
    installed = PluginManifest.from_distribution(PLUGIN)  # what `npe2 validate qsa-gui` loads
    assert installed.name == PLUGIN and installed.contributions.commands == c.commands


def test_reader_image_labels_and_unknown_files(tmp_path: Path):
    sample = generate_sample(3, size=(48, 40))
    img_path = tmp_path / "gland.png"
    write_image(img_path, sample.image)
    lab_path = tmp_path / "gland_labels.tif"
    core_write_labels(lab_path, sample.labels)
    ((data, meta, kind),) = get_reader(str(img_path))(str(img_path))
    assert kind == "image" and meta == {"name": "gland.png", "rgb": True}
    np.testing.assert_array_equal(data, sample.image)
    ((labels, meta, kind),) = get_reader(str(lab_path))(str(lab_path))
    assert kind == "labels" and meta["name"] == "gland_labels.tif"
    np.testing.assert_array_equal(labels, sample.labels)
    both = get_reader([str(img_path), str(lab_path)])([str(img_path), str(lab_path)])
    assert [layer[2] for layer in both] == ["image", "labels"]
    (tmp_path / "notes.txt").write_text("x")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path)) is None  # a folder without project.json


def test_reader_project_folder_without_assistant_gives_layers(project_folder: Path):
    read = get_reader(str(project_folder))
    assert read is not None
    layers = project_layers(project_folder)
    with Project.open(project_folder, read_only=True) as p:
        n_images, n_labelled = len(p.images), sum(r.label_path is not None for r in p.images)
        first = p.images[0]
        expected = np.clip(np.rint(p.load_image(first.id) * 255), 0, 255).astype(np.uint8)
    assert [k for *_, k in layers].count("image") == n_images
    assert [k for *_, k in layers].count("labels") == n_labelled == 2  # the demo's test images
    np.testing.assert_array_equal(layers[0][0], expected)
    assert layers[0][1]["metadata"]["qsa_image_id"] == first.id
    assert not (project_folder / ".lock").exists()  # read-only: the project stays unlocked


def test_writer_round_trip(tmp_path: Path):
    labels = generate_sample(1, size=(40, 52)).labels
    (out,) = write_labels(str(tmp_path / "out.tif"), labels.astype(np.int64), {"name": "labels"})
    np.testing.assert_array_equal(read_labels(out), labels)
    (out2,) = write_labels(str(tmp_path / "noext"), labels, {})
    assert out2.endswith(".tif") and np.array_equal(read_labels(out2), labels)
    with pytest.raises(ValueError):
        write_labels(str(tmp_path / "bad.tif"), np.zeros((2, 3, 4), np.int32), {})


def test_sample_data_is_an_image_with_its_instance_labels():
    (img, img_meta, img_kind), (lab, lab_meta, lab_kind) = make_sample_data(seed=2, size=64)
    assert (img_kind, lab_kind) == ("image", "labels") and img_meta["rgb"]
    assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
    assert lab.shape == (64, 64) and np.issubdtype(lab.dtype, np.integer) and lab.max() >= 1
    np.testing.assert_array_equal(lab, generate_sample(2, size=(64, 64)).labels)


def test_viewer_uses_plugin_contributions(make_napari_viewer, project_folder: Path, tmp_path: Path):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "glands")
    assert [layer.__class__.__name__ for layer in viewer.layers] == ["Image", "Labels"]
    saved = viewer.layers[1].save(str(tmp_path / "saved.tif"), plugin=PLUGIN)
    np.testing.assert_array_equal(read_labels(saved[0]), viewer.layers[1].data)

    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotation assistant")
    try:
        assert isinstance(widget, AssistantDock) and isinstance(widget, AssistantWidget)
        assert widget.viewer is viewer  # the real viewer, not napari's plugin proxy
        assert find_assistant(viewer) is widget
        # opening a project folder in napari opens it in the docked assistant
        viewer.open(str(project_folder), plugin=PLUGIN)
        assert widget.project is not None and widget.project.folder == project_folder.absolute()
        assert widget.layers.labels is not None and widget.layers.labels in viewer.layers
        widget._report("hello from the assistant")
        assert "hello from the assistant" in str(viewer.status)
    finally:
        widget.shutdown()
    assert not (project_folder / ".lock").exists()
