"""The shipped data (resources/): inside the wheel, found by qsa_gui.resources from a checkout and
from an installed wheel, and used by the napari manifest and sample data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qsa_gui.resources import (
    DESKTOP_ENTRY,
    ICON_SIZES,
    ICON_SVG,
    icon_png,
    main,
    resource_path,
    resources_root,
    sample_images,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ["histo_300x500.jpg", "tumour_384.png"]
SHIPPED = [
    DESKTOP_ENTRY,
    ICON_SVG,
    *(f"icons/qsa-gui-{n}.png" for n in ICON_SIZES),
    "samples/PROVENANCE.txt",
    *(f"samples/{s}" for s in SAMPLES),
]
BUILD_INPUTS = ["pyproject.toml", "setup.py", "README.md", "qsa_gui", "plugins", "resources"]

# run inside an unpacked wheel: everything the accessor, npe2 and the sample data give from there
_PROBE = """
import importlib.resources, json, sys
import qsa_gui, napari_qsa
from qsa_gui.resources import resource_path, sample_images
from napari_qsa._sample_data import make_he_tissue, make_he_tumour
from npe2 import PluginManifest
names = json.loads(sys.argv[1])
mf = PluginManifest.from_file(importlib.resources.files("napari_qsa") / "napari.yaml")
package, _, name = mf.icon.partition(":")
with importlib.resources.as_file(importlib.resources.files(package) / name) as icon:
    icon_bytes = icon.read_bytes()[:8].hex()
print(json.dumps({
    "qsa_gui": qsa_gui.__file__, "napari_qsa": napari_qsa.__file__,
    "paths": {n: str(resource_path(n)) for n in names},
    "samples": [str(p) for p in sample_images()],
    "layers": [[list(d.shape), str(d.dtype), k] for f in (make_he_tissue, make_he_tumour) for d, _, k in f()],
    "icon_head": icon_bytes,
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the tree (so no build/ or egg-info lands in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("whl")
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w"]
    cmd.append(str(out))
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    (whl,) = out.glob("qsa_gui-*.whl")
    return whl


def test_wheel_holds_the_resources_and_the_manifest(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"qsa_gui/_resources/{name}" in names, name
    assert {"napari_qsa/napari.yaml", "qsa_gui/resources.py", "qsa_gui/_resources/icons/__init__.py"} <= names
    assert not any(n.startswith("resources/") for n in names)  # no stray top-level package
    # every package of the source tree is in the wheel (setup.py finds them, nothing is listed by hand)
    for base, top in ((ROOT / "qsa_gui", "qsa_gui"), (ROOT / "plugins" / "napari_qsa", "napari_qsa")):
        for init in base.rglob("__init__.py"):
            assert f"{top}/{init.relative_to(base).as_posix()}" in names, init


def test_installed_wheel_finds_every_resource(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    probe = [sys.executable, "-c", _PROBE, json.dumps(SHIPPED)]
    done = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(got["qsa_gui"]).is_relative_to(site) and Path(got["napari_qsa"]).is_relative_to(site)
    for name in SHIPPED:  # from the wheel's package, not from this checkout
        path = Path(got["paths"][name])
        assert path == site / "qsa_gui" / "_resources" / name and path.is_file(), name
    assert [Path(p).name for p in got["samples"]] == SAMPLES
    assert got["layers"] == [[[300, 500, 3], "uint8", "image"], [[384, 384, 3], "uint8", "image"]]
    assert got["icon_head"] == b"\x89PNG\r\n\x1a\n".hex()


def test_resource_path_from_the_checkout():
    assert resources_root() == ROOT / "resources"
    for name in SHIPPED:
        assert resource_path(name) == ROOT / "resources" / name and resource_path(name).stat().st_size > 0
    assert [p.name for p in sample_images()] == SAMPLES
    assert icon_png(48) == ROOT / "resources" / "icons" / "qsa-gui-48.png"
    with pytest.raises(ValueError):
        icon_png(20)


def test_unknown_resource_is_one_clear_error(capsys: pytest.CaptureFixture[str]):
    from qsa_gui.core.errors import InputFileError

    with pytest.raises(InputFileError, match="no-such.png: no such file among qsa-gui's shipped resources"):
        resource_path("icons/no-such.png")
    assert main([DESKTOP_ENTRY]) == 0 and capsys.readouterr().out.strip() == str(resource_path(DESKTOP_ENTRY))
    assert main(["nope.txt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.txt" in err and len(err.strip().splitlines()) == 1


def test_icons_are_square_pngs_of_their_size_and_the_svg_is_valid():
    import xml.etree.ElementTree as ET

    from skimage import io

    root = ET.parse(resource_path(ICON_SVG)).getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 64 64"
    for n in ICON_SIZES:
        img = io.imread(icon_png(n))
        assert img.shape == (n, n, 4) and img[..., 3].max() == 255  # RGBA, drawn (not blank)
        assert img[0, 0, 3] < 255  # transparent rounded corner


def test_desktop_entry_has_the_required_keys():
    lines = resource_path(DESKTOP_ENTRY).read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    keys = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    assert keys["Type"] == "Application" and keys["Exec"] == "qsa-gui" and keys["Icon"] == "qsa-gui"
    assert keys["Terminal"] == "false" and keys["Categories"] == "Science;MedicalSoftware;"
    assert keys["Name"] and keys["Comment"]
    validator = shutil.which("desktop-file-validate")
    if validator:  # freedesktop's own check where it is installed
        done = subprocess.run([validator, str(resource_path(DESKTOP_ENTRY))], capture_output=True, text=True)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_samples_have_provenance_and_stay_small():
    provenance = resource_path("samples/PROVENANCE.txt").read_text()
    for path in sample_images():
        (line,) = [ln for ln in provenance.splitlines() if ln.startswith(f"{path.name} |")]
        assert "BSD-3-Clause" in line and "wheel" in line
    assert sum(p.stat().st_size for p in sample_images()) < 400_000


def test_napari_sample_data_loads_the_shipped_images():
    pytest.importorskip("npe2")
    from napari_qsa._sample_data import make_he_tissue, make_he_tumour
    from npe2 import PluginManifest

    from qsa_gui.core.data.images import read_image

    for make, name in ((make_he_tissue, SAMPLES[0]), (make_he_tumour, SAMPLES[1])):
        ((data, meta, kind),) = make()
        assert kind == "image" and meta == {"name": name, "rgb": True}
        np.testing.assert_array_equal(data, read_image(resource_path(f"samples/{name}")))
    mf = PluginManifest.from_file(ROOT / "plugins" / "napari_qsa" / "napari.yaml")
    commands = {c.id: c.python_name for c in mf.contributions.commands}
    keys = {s.key: commands[s.command] for s in mf.contributions.sample_data}
    assert keys["he_tissue"].endswith(":make_he_tissue") and keys["he_tumour"].endswith(":make_he_tumour")
    package, _, name = mf.icon.partition(":")
    assert package == "qsa_gui._resources.icons" and resource_path(f"icons/{name}").is_file()
