"""``qsa import --labels``: label files are matched by exact stem (plus documented suffixes), never
by prefix or glob, never to the image itself, and ambiguity is an error (CLI-level where users meet
it), plus property tests of the matcher with names built to confuse it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from qsa_gui.core.data.matching import (
    LABEL_SUFFIXES,
    LabelMatchError,
    image_stem,
    label_keys,
    match_labels,
)
from qsa_gui.core.project.store import Project

ROOT = Path(__file__).resolve().parents[2]


def _qsa(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    return subprocess.run(
        [sys.executable, "-m", "qsa_gui.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _image(path: Path, seed: int, shape=(12, 16)) -> None:
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.integers(0, 256, (*shape, 3), dtype=np.uint8), photometric="rgb")


def _labels(path: Path, value: int, shape=(12, 16)) -> None:
    lab = np.zeros(shape, np.uint16)
    lab[2:6, 3:9] = value
    tifffile.imwrite(path, lab)


def _labelled(project: Path) -> dict[str, int]:
    """Image file name -> the largest label id imported for it (0 = no labels)."""
    proj = Project.open(project)
    try:
        out = {}
        for rec in proj.images:
            lab = tifffile.imread(project / rec.label_path) if rec.label_path else np.zeros(1)
            out[rec.name] = int(lab.max())
        return out
    finally:
        proj.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    Project.create(tmp_path / "proj").close()  # in-process: each CLI run costs seconds (torch import)
    return tmp_path / "proj"


def test_exact_stems_only_no_prefix_no_glob(tmp_path: Path, project: Path) -> None:
    """g1 never gets g12's labels; [1] and * in names are literal characters."""
    imgs, labs = tmp_path / "imgs", tmp_path / "labs"
    imgs.mkdir(), labs.mkdir()
    for i, name in enumerate(["g1", "g12", "a[1]", "b*"]):
        _image(imgs / f"{name}.tif", i)
    _labels(labs / "g12.tif", 12)
    _labels(labs / "a1.tif", 5)  # glob a[1]* matches this
    _labels(labs / "bz_anno.tif", 6)  # glob b** matches this
    _labels(labs / "B*_Mask.tif", 7)  # the true labels of b*.tif (case ignored)
    r = _qsa("import", str(project), str(imgs), "--labels", str(labs))
    assert r.returncode == 0, r.stderr
    assert _labelled(project) == {"g1.tif": 0, "g12.tif": 12, "a[1].tif": 0, "b*.tif": 7}
    assert "images without labels (2): a[1].tif, g1.tif" in r.stdout
    assert "label files not used (2): a1.tif, bz_anno.tif" in r.stdout


def test_shared_folder_never_matches_an_image_to_itself(tmp_path: Path, project: Path) -> None:
    folder = tmp_path / "glas"
    folder.mkdir()
    _image(folder / "train_1.tif", 1)
    _labels(folder / "train_1_anno.tif", 3)
    _image(folder / "train_2.tif", 2)
    r = _qsa("import", str(project), str(folder), "--labels", str(folder))
    assert r.returncode == 0, r.stderr
    # the label file is not imported as an image, train_1 gets it, train_2 has none
    assert _labelled(project) == {"train_1.tif": 3, "train_2.tif": 0}
    assert "imported as labels, not as images (1): train_1_anno.tif" in r.stdout


def test_missing_labels_folder_exits_2(tmp_path: Path, project: Path) -> None:
    _image(tmp_path / "g1.tif", 1)
    r = _qsa("import", str(project), str(tmp_path / "g1.tif"), "--labels", str(tmp_path / "nonexistent"))
    assert r.returncode == 2
    assert "labels folder not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert _labelled(project) == {}


def test_two_candidates_are_an_error_listing_both(tmp_path: Path, project: Path) -> None:
    imgs, labs = tmp_path / "imgs", tmp_path / "labs"
    imgs.mkdir(), labs.mkdir()
    _image(imgs / "g1.tif", 1)
    _labels(labs / "g1_anno.tif", 1)
    _labels(labs / "g1_mask.tif", 2)
    r = _qsa("import", str(project), str(imgs), "--labels", str(labs))
    assert r.returncode == 2
    assert "2 candidate label files (g1_anno.tif, g1_mask.tif)" in r.stderr
    assert _labelled(project) == {}


def test_matcher_ambiguity_errors() -> None:
    with pytest.raises(LabelMatchError, match=r"2 candidate label files \(G1.png, g1.tif\)"):
        match_labels([Path("/i/g1.tif")], [Path("/l/g1.tif"), Path("/l/G1.png")])
    # an image whose own stem is the label's exact stem, and one that takes it by suffix
    with pytest.raises(LabelMatchError, match=r"claimed as labels by two images \(g1.tif, g1_mask.tif\)"):
        match_labels([Path("/i/g1.tif"), Path("/i/g1_mask.tif")], [Path("/l/g1_mask.tif")])
    with pytest.raises(LabelMatchError, match="both the labels of g1.tif and an image with labels"):
        match_labels(
            [Path("/i/g1.tif"), Path("/i/g1_mask.tif")], [Path("/i/g1_mask.tif"), Path("/i/g1_mask_anno.tif")]
        )


def test_help_documents_the_conventions() -> None:
    r = _qsa("import", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for suffix in LABEL_SUFFIXES:
        assert suffix in text
    assert "never g12.tif" in text


# ------------------------------------------------------------------------------ properties

_CHARS = st.sampled_from(list("abAB1_-[]*?!. "))
_STEMS = st.text(_CHARS, min_size=1, max_size=6).filter(lambda s: s.strip(". ") == s)
_EXTS = st.sampled_from([".png", ".tif", ".TIF", ".ome.tif", ".bmp"])
_SUFFIX = st.sampled_from(["", *LABEL_SUFFIXES, "_ANNO", "-Mask", "x", "1"])


def _base(path: Path) -> str:
    return image_stem(path).casefold()


@settings(max_examples=300, deadline=None)
@given(
    images=st.lists(st.tuples(_STEMS, _EXTS), min_size=1, max_size=6),
    labels=st.lists(st.tuples(_STEMS, _SUFFIX, _EXTS), max_size=8),
    shared=st.booleans(),
)
def test_matcher_properties(images, labels, shared) -> None:
    img_dir = Path("/data/imgs")
    lab_dir = img_dir if shared else Path("/data/labs")
    img_paths = list({(img_dir / f"{s}{e}"): None for s, e in images})
    lab_paths = list({(lab_dir / f"{s}{suf}{e}"): None for s, suf, e in labels})
    if shared:
        lab_paths = list(dict.fromkeys(lab_paths + img_paths))  # the folder lists the images too
    try:
        m = match_labels(img_paths, lab_paths)
    except LabelMatchError as exc:
        assert "candidate" in exc.reason or "claimed" in exc.reason or "both" in exc.reason
        return
    used = list(m.pairs.values())
    assert len(used) == len(set(used)), "a label file matched twice"
    for img, lab in m.pairs.items():
        assert img != lab, "an image matched itself"
        stem, lab_stem = _base(img), _base(lab)
        assert lab_stem == stem or any(lab_stem == stem + suf for suf in LABEL_SUFFIXES), (img, lab)
        assert lab in lab_paths
    # images are partitioned: labelled, unlabelled, or themselves someone's labels
    parts = [*m.pairs, *m.unlabelled, *m.labels_given_as_images]
    assert sorted(map(str, parts)) == sorted(map(str, img_paths))
    # nothing is unlabelled while it had exactly one candidate
    for img in m.unlabelled:
        cands = [lab for lab in lab_paths if lab != img and _base(img) in label_keys(lab)]
        assert not cands, (img, cands)
    assert set(m.unused).isdisjoint(used)


def test_matcher_exact_stem_and_case() -> None:
    imgs = [Path("/i/G1.png"), Path("/i/g12.png"), Path("/i/x.ome.tif")]
    labs = [Path("/l/g1_ANNO.tif"), Path("/l/g12-labels.png"), Path("/l/x.ome-mask.tif"), Path("/l/x.png")]
    m = match_labels(imgs, labs)
    assert m.pairs == {imgs[0]: labs[0], imgs[1]: labs[1], imgs[2]: labs[3]}
    assert m.unused == [labs[2]]  # "x.ome-mask" has stem "x.ome-mask", not "x" + "-mask"


def test_qsa_label_refuses_a_name_shared_by_two_images(tmp_path: Path, project: Path) -> None:
    """g1.tif and g1.png both answer to "g1": the labels must not go to whichever comes first."""
    from PIL import Image

    _image(tmp_path / "g1.tif", 1)
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(
        tmp_path / "g1.png"
    )
    proj = Project.open(project)
    try:
        assert len(proj.import_images([tmp_path / "g1.tif", tmp_path / "g1.png"]).added) == 2
    finally:
        proj.close()
    _labels(tmp_path / "lab.tif", 3)
    r = _qsa("label", str(project), "g1", str(tmp_path / "lab.tif"))
    assert r.returncode == 2
    assert "'g1' names 2 images" in r.stderr and "img_0001 (g1.tif)" in r.stderr
    assert _labelled(project) == {"g1.tif": 0, "g1.png": 0}
