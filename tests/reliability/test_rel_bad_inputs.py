"""Bad inputs get one clear, named error (the file and the reason), never a crash: image and
label readers, the project store, model files and the CLI (exit 2, one line on stderr).

Every distinct bad input is registered in ``TRIED`` (printed with ``-s``); the property tests in
test_rel_properties.py add generated ones on top.
"""

from __future__ import annotations

import errno
import io as pyio
import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from rel_helpers import labels_for, make_project

from qsa_gui import cli
from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy
from qsa_gui.core.errors import InputFileError, ModelFileError, ProjectError, QSAError
from qsa_gui.core.model.fcn import load_fcn
from qsa_gui.core.project.store import Project
from qsa_gui.core.quant.modelfile import load_model_state

TRIED: list[str] = []
IMAGE_SUFFIXES = (".png", ".tif", ".jpg", ".bmp")


def _valid_bytes(suffix: str, shape: tuple[int, ...] = (20, 24, 3)) -> bytes:
    """A valid small image file of the given type, as bytes."""
    img = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    buf = pyio.BytesIO()
    if suffix == ".tif":
        tifffile.imwrite(buf, img, photometric="rgb", compression="zlib")
    else:
        from PIL import Image

        Image.fromarray(img).save(buf, format={".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP"}[suffix])
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width x height`` with (almost) no pixel data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def _bad_image_files(folder: Path) -> dict[str, Path]:
    """Every bad image file this module tries, by case name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    cases: dict[str, Path] = {}

    def put(name: str, data: bytes, suffix: str) -> None:
        p = folder / f"{name}{suffix}"
        p.write_bytes(data)
        cases[name] = p

    for s in IMAGE_SUFFIXES:
        tag = s[1:]
        put(f"random-bytes-{tag}", rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), s)
        put(f"empty-{tag}", b"", s)
        valid = _valid_bytes(s)
        for frac in (0.05, 0.5, 0.9):
            put(f"truncated{int(frac * 100)}-{tag}", valid[: max(1, int(len(valid) * frac))], s)
        put(f"text-as-{tag}", b"hello, this is not an image\n" * 20, s)
    put("png-bomb-100000x100000", _png_header_only(100_000, 100_000), ".png")
    put("png-zero-width", _png_header_only(0, 10), ".png")
    put("pdf-as-png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", ".png")
    put("pickle-as-tif", pickle.dumps({"a": 1}), ".tif")
    put("tiff-magic-only", b"II*\x00", ".tif")
    put("tiff-bad-ifd-offset", b"II*\x00\xff\xff\xff\x7f" + b"\0" * 64, ".tif")
    # layouts that are not one 2-D image
    tifffile.imwrite(folder / "stack-5-pages.tif", np.zeros((5, 16, 16), np.uint8))
    cases["stack-5-pages"] = folder / "stack-5-pages.tif"
    tifffile.imwrite(folder / "zstack.tif", np.zeros((7, 16, 16), np.uint8), metadata={"axes": "ZYX"})
    cases["z-stack-3d"] = folder / "zstack.tif"
    tifffile.imwrite(folder / "five-channels.tif", np.zeros((16, 16, 5), np.uint8), planarconfig="contig")
    cases["five-channels"] = folder / "five-channels.tif"
    tifffile.imwrite(folder / "nan.tif", np.full((8, 8), np.nan, np.float32))
    cases["float-nan"] = folder / "nan.tif"
    tifffile.imwrite(folder / "inf.tif", np.full((8, 8, 3), np.inf, np.float32), photometric="rgb")
    cases["float-inf"] = folder / "inf.tif"
    tifffile.imwrite(folder / "complex.tif", np.zeros((8, 8), np.complex64))
    cases["complex-pixels"] = folder / "complex.tif"
    # a TIFF declaring 100000 x 100000 pixels (sparse on disk): refused before decoding
    tifffile.imwrite(folder / "huge-declared.tif", shape=(100_000, 100_000), dtype=np.uint8)
    cases["huge-declared-100000x100000"] = folder / "huge-declared.tif"
    (folder / "dir.png").mkdir(exist_ok=True)
    cases["directory-named-png"] = folder / "dir.png"
    cases["missing-file"] = folder / "does-not-exist.tif"
    (folder / "notes.txt").write_text("x")
    cases["unsupported-suffix-txt"] = folder / "notes.txt"
    (folder / "noext").write_bytes(_valid_bytes(".png"))
    cases["no-suffix"] = folder / "noext"
    link = folder / "loop.png"
    if not link.is_symlink():
        os.symlink(link, link)  # a symlink to itself
    cases["symlink-loop"] = link
    return cases


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _bad_image_files(tmp_path_factory.mktemp("bad"))


def _lazy_rgb(path: Path) -> np.ndarray:
    with qlazy.open_lazy(path) as lazy:  # lazily opened: converting the pixels must fail then
        return lazy.read_rgb(0, min(lazy.shape[0], 64))


# raw pixels may be NaN (read_image returns what is stored)
EXEMPT = {"read_image": {"float-nan", "float-inf"}}


def test_every_bad_image_file_is_one_named_error(bad_files: dict[str, Path]) -> None:
    for name, path in bad_files.items():
        for reader in (qio.read_image, qio.load_rgb, qio.read_labels, _lazy_rgb):
            if name in EXEMPT.get(reader.__name__, ()):
                continue
            with pytest.raises(InputFileError) as err:
                reader(path)
            msg = str(err.value)
            assert str(path) in msg and "\n" not in msg, (name, reader.__name__, msg)
            assert err.value.reason, name
        TRIED.append(f"image:{name}")
    print(f"\n{len(bad_files)} bad image files x 4 readers")


def test_huge_declared_image_is_refused_without_decoding(bad_files: dict[str, Path]) -> None:
    """100000 x 100000 would be 10 GB: read_image says so at once; open_lazy refuses the file as
    sparse on disk (its 10 GB of pixels were never written: importing it would copy 10 GB of zeros)."""
    path = bad_files["huge-declared-100000x100000"]
    with pytest.raises(InputFileError, match="too large|more than"):
        qio.read_image(path)
    with pytest.raises(InputFileError, match="sparse on disk"):
        qlazy.open_lazy(path)


def test_images_that_are_unusual_but_valid_read_correctly(tmp_path: Path) -> None:
    """1x1, 16-bit, float, RGBA and gray+alpha images are images: read, scaled, composited."""
    cases = {
        "one-pixel-png": (np.array([[[10, 20, 30]]], np.uint8), ".png"),
        "one-pixel-tif": (np.array([[7]], np.uint8), ".tif"),
        "one-row": (np.arange(30, dtype=np.uint8).reshape(1, 10, 3), ".tif"),
        "uint16-12bit": ((np.arange(64, dtype=np.uint16) * 64).reshape(8, 8), ".tif"),
        "uint16-full": (np.full((4, 4, 3), 65535, np.uint16), ".tif"),
        "float32-unit": (np.linspace(0, 1, 48, dtype=np.float32).reshape(4, 4, 3), ".tif"),
        "float64-255": (np.linspace(0, 255, 16).reshape(4, 4), ".tif"),
        "rgba": (np.dstack([np.full((4, 4, 3), 200, np.uint8), np.full((4, 4), 0, np.uint8)]), ".png"),
        "gray-alpha": (np.dstack([np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)]), ".tif"),
    }
    for name, (arr, suffix) in cases.items():
        p = tmp_path / f"{name}{suffix}"
        if suffix == ".png":
            qio.write_image(p, arr)
        else:
            extra = {"photometric": "rgb"} if arr.ndim == 3 and arr.shape[2] == 3 else {}
            if arr.ndim == 3 and arr.shape[2] == 2:
                extra = {"photometric": "minisblack", "extrasamples": ["unassalpha"]}
            tifffile.imwrite(p, arr, **extra)
        raw = qio.read_image(p)
        np.testing.assert_array_equal(raw, arr, err_msg=name)
        rgb = qio.load_rgb(p)
        assert rgb.dtype == np.float32 and rgb.shape == (*arr.shape[:2], 3), name
        assert 0.0 <= rgb.min() and rgb.max() <= 1.0, name
        with qlazy.open_lazy(p) as lazy:
            np.testing.assert_array_equal(lazy.read_rgb(0, arr.shape[0]), rgb, err_msg=name)
        TRIED.append(f"image-valid:{name}")
    assert np.allclose(qio.load_rgb(tmp_path / "rgba.png"), 1.0)  # transparent = white glass
    assert np.allclose(qio.load_rgb(tmp_path / "gray-alpha.tif"), 0.0)  # opaque black
    assert qio.load_rgb(tmp_path / "uint16-12bit.tif").max() == pytest.approx(4032 / 4095)


def test_bad_label_images_are_named_errors(tmp_path: Path) -> None:
    bad = {
        "negative-ids": np.array([[0, -1], [2, 3]], np.int16),
        "huge-ids": np.array([[0, 2**31 + 5], [1, 2]], np.uint32),
        "int64-beyond-int32": np.array([[0, 2**40]], np.int64),
        "non-integer-floats": np.array([[0.5, 1.0]], np.float32),
        "nan-labels": np.array([[np.nan, 1.0]], np.float32),
        "colour-labels": np.dstack(
            [np.eye(3, dtype=np.uint8), np.zeros((3, 3), np.uint8), np.eye(3, dtype=np.uint8)]
        ),
    }
    for name, arr in bad.items():
        p = tmp_path / f"{name}.tif"
        tifffile.imwrite(p, arr, **({"photometric": "rgb"} if arr.ndim == 3 else {}))
        with pytest.raises(InputFileError) as err:
            qio.read_labels(p)
        assert str(p) in str(err.value), name
        TRIED.append(f"labels:{name}")
    ok = tmp_path / "ok.tif"
    qio.write_labels(ok, np.ones((4, 5), np.int32))
    with pytest.raises(InputFileError, match="does not match image shape"):
        qio.read_labels(ok, expected_shape=(5, 4))
    TRIED.append("labels:shape-differs-from-image")
    for name, arr in {
        "write-negative": np.array([[-1]], np.int32),
        "write-3d": np.zeros((2, 2, 2), np.int32),
        "write-float": np.zeros((2, 2), np.float32),
        "write-empty": np.zeros((0, 3), np.int32),
    }.items():
        with pytest.raises(ValueError):
            qio.write_labels(tmp_path / f"{name}.tif", arr)
        TRIED.append(f"labels:{name}")


def test_project_refuses_bad_labels_and_keeps_the_saved_ones(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "p")
    image_id = proj.images[0].id
    good = labels_for(0, 1)
    proj.save_labels(image_id, good, done=True)
    bad = {
        "wrong-shape": np.zeros((5, 5), np.int32),
        "transposed": good.T.copy(),
        "3d": np.zeros((*good.shape, 2), np.int32),
        "negative": -np.ones_like(good),
        "huge": np.full(good.shape, 2**40, np.int64),
        "fractional": np.full(good.shape, 0.5),
        "nan": np.full(good.shape, np.nan),
        "strings": np.full(good.shape, "a"),
    }
    for name, arr in bad.items():
        with pytest.raises(InputFileError) as err:
            proj.save_labels(image_id, arr)
        assert image_id in str(err.value), name
        TRIED.append(f"project-labels:{name}")
    np.testing.assert_array_equal(proj.load_labels(image_id), good)
    proj.close()
    with Project.open(tmp_path / "p") as again:
        np.testing.assert_array_equal(again.load_labels(image_id), good)
        assert again.image(image_id).status == "labelled"


def test_import_skips_each_bad_file_with_its_reason(tmp_path: Path, bad_files: dict[str, Path]) -> None:
    proj = make_project(tmp_path / "p", n_images=1)
    bad = [p for name, p in bad_files.items() if not name.startswith("huge-declared")]  # valid, 10 GB
    report = proj.import_images(bad)
    assert report.added == []
    assert len(report.skipped) == len(bad)
    for shown, reason in report.skipped:
        assert reason and "\n" not in reason, (shown, reason)
    assert len(proj.images) == 1
    proj.close()
    with Project.open(tmp_path / "p") as again:
        assert len(again.images) == 1


def test_odd_file_names_import_and_print(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Non-UTF-8 bytes and a 250-byte name: imported, shown printable, CLI prints them."""
    src = tmp_path / "src"
    src.mkdir()
    raw_name = os.fsencode(src) + b"/gl\xe4nd-\xff.png"
    with open(raw_name, "wb") as fh:
        fh.write(_valid_bytes(".png"))
    long_name = src / ("x" * 246 + ".png")
    long_name.write_bytes(_valid_bytes(".png", (10, 12, 3)))
    proj = make_project(tmp_path / "p", n_images=0)
    report = proj.import_images([os.fsdecode(raw_name), long_name])
    assert len(report.added) == 2, report.skipped
    names = [proj.image(i).name for i in report.added]
    for n in names:
        n.encode("utf-8")  # printable, valid UTF-8
        assert len(n) <= 120
    proj.close()
    TRIED.extend(["name:non-utf8", "name:250-bytes"])
    assert cli.main(["status", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "img_0001" in out and "img_0002" in out
    missing = os.fsdecode(os.fsencode(src) + b"/m\xe9ssing.tif")
    code = cli.main(["import", str(tmp_path / "p"), missing])
    err = capsys.readouterr().err
    assert code == 2 and "skipped" in err
    TRIED.append("name:non-utf8-missing")


# ------------------------------------------------------------------------------- manifests


def _manifest_variants(good: dict, raw: bytes) -> dict[str, bytes]:
    def js(d: object) -> bytes:
        return json.dumps(d).encode()

    def with_(**kv: object) -> bytes:
        return js({**good, **kv})

    img0 = good["images"][0]

    def with_image(**kv: object) -> bytes:
        return with_(images=[{**img0, **kv}, *good["images"][1:]])

    out = {f"truncated-{n}": raw[:n] for n in (0, 1, 10, len(raw) // 2, len(raw) - 2)}
    out |= {
        "whitespace": b"   \n",
        "not-utf8": b"\xff\xfe" + raw,
        "not-json": b"this is not json",
        "json-list": b"[]",
        "json-null": b"null",
        "wrong-app": with_(app="something-else"),
        "from-the-future": with_(schema_version=99),
        "schema-string": with_(schema_version="1"),
        "schema-bool": with_(schema_version=True),
        "schema-zero": with_(schema_version=0),
        "images-not-list": with_(images={"a": 1}),
        "settings-not-dict": with_(settings=[1]),
        "image-not-object": with_(images=[1]),
        "image-missing-shape": with_(images=[{k: v for k, v in img0.items() if k != "shape"}]),
        "image-bad-shape": with_image(shape=[0, 5]),
        "image-shape-3d": with_image(shape=[5, 5, 3]),
        "image-bad-status": with_image(status="finished"),
        "image-bad-split": with_image(split="train"),
        "image-bad-id": with_image(id="../x"),
        "duplicate-ids": with_(images=[img0, img0]),
        "label-path-dotdot": with_image(label_path="../outside.tif"),
        "label-path-absolute": with_image(label_path="/etc/passwd"),
        "prediction-path-dotdot": with_image(prediction_path="labels/../../x.tif"),
        "copied-image-absolute": with_image(path="/etc/hosts", copied=True),
        "image-path-dotdot": with_image(path="../../etc/hosts"),
        "current-model-unknown": with_(current_model="seg-v9999"),
        "model-path-absolute": with_(models=[{"version": "m1", "path": "/tmp"}]),
        "model-path-dotdot": with_(models=[{"version": "m1", "path": "../m"}]),
        "model-not-object": with_(models=["m1"]),
        "round-unknown-image": with_(rounds=[{"index": 1, "image_ids": ["img_9999"]}]),
        "round-bad-index": with_(rounds=[{"index": "one"}]),
    }
    return out


def test_bad_manifests_are_one_project_error_and_fixable(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=2).close()
    manifest = folder / "project.json"
    raw = manifest.read_bytes()
    good = json.loads(raw)
    variants = _manifest_variants(good, raw)
    for name, data in variants.items():
        manifest.write_bytes(data)
        for read_only in (False, True):
            with pytest.raises(ProjectError) as err:
                Project.open(folder, read_only=read_only)
            msg = str(err.value)
            assert str(folder) in msg and "\n" not in msg, (name, msg)
        assert not (folder / ".lock").exists(), f"{name}: a failed open left its lock behind"
        TRIED.append(f"manifest:{name}")
    manifest.write_bytes(raw)  # restored: the project is intact
    with Project.open(folder) as proj:
        assert len(proj.images) == 2
    print(f"\n{len(variants)} bad manifests")


def test_cli_bad_project_is_exit_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    (folder / "project.json").write_bytes(b'{"app": "qsa-gui", "schema_version": 3')
    for argv in (
        ["status", str(folder)],
        ["segment", str(folder)],
        ["export", str(folder), str(tmp_path / "o")],
    ):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "project.json" in err[0] and err[0].startswith("qsa: error:"), err
    assert cli.main(["status", str(tmp_path / "nope")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    TRIED.extend(["cli:truncated-manifest", "cli:no-project"])


def test_cli_label_with_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_files) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    wrong = tmp_path / "wrong.tif"
    qio.write_labels(wrong, np.ones((5, 5), np.int32))
    for path in [wrong, *list(bad_files.values())[:12]]:
        assert cli.main(["label", str(folder), "img_0001", str(path)]) == 2, path
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0], err
    with Project.open(folder, read_only=True) as proj:
        assert proj.load_labels("img_0001") is None
    TRIED.append("cli:label-shape-differs")


def test_cli_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    (folder / "project.json").write_text("{")
    res = subprocess.run(
        [sys.executable, "-m", "qsa_gui.cli", "status", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr


# --------------------------------------------------------------------------- disk failures


def _fail_on(monkeypatch: pytest.MonkeyPatch, name: str, exc: OSError, *, after: int = 0) -> dict:
    """Make ``os.<name>`` raise ``exc`` from its (after+1)-th call on."""
    real = getattr(os, name)
    state = {"calls": 0}

    def broken(*args, **kwargs):
        state["calls"] += 1
        if state["calls"] > after:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, broken)
    return state


DISK_FAILURES = {
    "full-disk-at-fsync": ("fsync", OSError(errno.ENOSPC, "No space left on device")),
    "full-disk-at-rename": ("replace", OSError(errno.ENOSPC, "No space left on device")),
    "read-only-folder-rename": ("replace", PermissionError(errno.EACCES, "Permission denied")),
    "read-only-filesystem": ("replace", OSError(errno.EROFS, "Read-only file system")),
    "io-error": ("fsync", OSError(errno.EIO, "Input/output error")),
}


@pytest.mark.parametrize("case", sorted(DISK_FAILURES))
@pytest.mark.parametrize("after", [0, 3])  # fail the data file, or only the manifest after it
def test_disk_failures_keep_every_saved_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, after: int
) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder)
    ids = [r.id for r in proj.images]
    for i, image_id in enumerate(ids[:3]):
        proj.save_labels(image_id, labels_for(i, 1), done=True)
    proj.save_prediction(ids[4], labels_for(4, 9), "seg-v0001")
    before = (folder / "project.json").read_bytes()
    name, exc = DISK_FAILURES[case]
    with monkeypatch.context() as mp:
        _fail_on(mp, name, exc, after=after)
        operations = [
            lambda: proj.save_labels(ids[0], labels_for(0, 2), done=True),
            lambda: proj.save_labels(ids[3], labels_for(3, 2)),
            lambda: proj.set_status(ids[1], "in_progress"),
            lambda: proj.save_prediction(ids[4], labels_for(4, 10), "seg-v0002"),
            lambda: proj.save_scores("k", {"a": np.arange(3)}),
        ]
        failures = 0
        for op in operations:
            try:
                op()
            except QSAError as err:  # one clear error naming the file
                failures += 1
                assert str(folder) in str(err) and "\n" not in str(err)
        assert failures >= 1
    # the in-memory project still matches the disk (rolled back), and the disk is intact
    manifest_now = (folder / "project.json").read_bytes()
    assert manifest_now == before or json.loads(manifest_now)  # unchanged, or a whole newer one
    proj.close()
    with Project.open(folder) as again:
        for i, image_id in enumerate(ids[:3]):
            got = again.load_labels(image_id)
            assert got is not None
            assert np.array_equal(got, labels_for(i, 1)) or (i == 0 and np.array_equal(got, labels_for(0, 2)))
            assert again.image(image_id).status == "labelled"
        assert again.load_prediction(ids[4]) is not None
    leftovers = [p for p in folder.rglob(".*.tmp")]
    assert not leftovers, leftovers
    TRIED.append(f"disk:{case}:after{after}")


def test_in_memory_state_is_rolled_back_when_the_manifest_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = make_project(tmp_path / "p")
    image_id = proj.images[0].id
    proj.save_labels(image_id, labels_for(0, 1))
    rec = proj.image(image_id)
    assert rec.status == "in_progress"
    with monkeypatch.context() as mp:
        _fail_on(mp, "replace", OSError(errno.ENOSPC, "No space left on device"), after=1)  # labels ok
        with pytest.raises(ProjectError, match="project.json"):
            proj.save_labels(image_id, labels_for(0, 2), done=True)
    assert rec.status == "in_progress" and rec.labelled_by is None  # the same object, restored
    proj.save_labels(image_id, labels_for(0, 3), done=True)  # and the project works on
    proj.close()
    with Project.open(tmp_path / "p") as again:
        np.testing.assert_array_equal(again.load_labels(image_id), labels_for(0, 3))


def test_read_only_folder_refuses_writing_open_but_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder)
    proj.save_labels(proj.images[0].id, labels_for(0, 1), done=True)
    proj.close()
    real_open = os.open

    def no_create(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(os, "open", no_create)
        with pytest.raises(ProjectError, match="lock"):
            Project.open(folder)
        with Project.open(folder, read_only=True) as ro:  # reading needs no write access
            np.testing.assert_array_equal(ro.load_labels(ro.images[0].id), labels_for(0, 1))
        with pytest.raises(ProjectError):
            Project.create(tmp_path / "new")
    TRIED.extend(["read-only:lock", "read-only:create"])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder_with_real_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder)
    proj.save_labels(proj.images[0].id, labels_for(0, 1), done=True)
    for d in [folder, *[p for p in folder.iterdir() if p.is_dir()]]:
        d.chmod(0o555)
    try:
        with pytest.raises(ProjectError):
            proj.save_labels(proj.images[0].id, labels_for(0, 2), done=True)
        proj.close()
        with pytest.raises(ProjectError):
            Project.open(folder)
        with Project.open(folder, read_only=True) as ro:
            np.testing.assert_array_equal(ro.load_labels(ro.images[0].id), labels_for(0, 1))
    finally:
        for d in [folder, *[p for p in folder.iterdir() if p.is_dir()]]:
            d.chmod(0o755)


def test_lock_write_failure_leaves_no_lock_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while writing .lock: a clear error, and no empty lock that blocks the next open."""
    folder = tmp_path / "p"
    make_project(folder).close()
    with monkeypatch.context() as mp:
        _fail_on(mp, "write", OSError(errno.ENOSPC, "No space left on device"))
        with pytest.raises(ProjectError, match="lock"):
            Project.open(folder)
    assert not (folder / ".lock").exists()
    with Project.open(folder):
        pass
    TRIED.append("disk:full-at-lock")


# ------------------------------------------------------------------------------ model files


def test_bad_model_files_are_model_file_errors(tmp_path: Path) -> None:
    import torch
    from rel_helpers import micro_segmenter

    from qsa_gui.core.model.fcn import save_fcn

    good = tmp_path / "good.qsam"
    save_fcn(good, micro_segmenter(0).models[0], bits=None, meta={})
    data = good.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    header_flip = bytearray(data)
    header_flip[30] ^= 0x01
    buf = pyio.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    cases = {
        "empty": b"",
        "random": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated-prelude": data[:5],
        "truncated-header": data[:40],
        "truncated-payload": data[:-3],
        "trailing-garbage": data + b"xx",
        "payload-bit-flip": bytes(flipped),
        "header-bit-flip": bytes(header_flip),
        "pickle": pickle.dumps({"state": [1, 2, 3]}),
        "torch-save": buf.getvalue(),
        "text": b"model weights, honest\n",
        "png": _valid_bytes(".png"),
    }
    for name, blob in cases.items():
        p = tmp_path / f"{name}.qsam"
        p.write_bytes(blob)
        for loader in (load_model_state, lambda q: load_fcn(q, device="cpu")):
            with pytest.raises(ModelFileError) as err:
                loader(p)
            assert str(p) in str(err.value), name
        TRIED.append(f"model:{name}")
    with pytest.raises(ModelFileError):
        load_model_state(tmp_path / "missing.qsam")
    TRIED.append("model:missing")


def test_single_pixel_tiffs_with_odd_axes_are_images_not_stacks(tmp_path: Path) -> None:
    """Regression: tifffile labels a 1 x 1 x 1 array's axes 'XYX'; it was refused as 'a stack of
    1 pages'. Any leading single plane is now dropped when Y and X remain."""
    for shape in [(1, 1, 1), (1, 1), (1, 5, 1), (5, 1, 1), (1, 1, 1, 1)]:
        p = tmp_path / f"px{len(shape)}{shape[0]}{shape[1]}.tif"
        tifffile.imwrite(p, np.full(shape, 9, np.uint8), photometric="minisblack")
        raw = qio.read_image(p)
        assert raw.ndim == 2 and raw.size == int(np.prod(shape)) and (raw == 9).all(), shape
        assert qio.read_labels(p).shape == raw.shape
        with qlazy.open_lazy(p) as lazy:
            np.testing.assert_array_equal(lazy.read_region(0, raw.shape[0]), raw)
        TRIED.append(f"image-valid:single-pixel-{shape}")


def test_report_count() -> None:
    """Runs last in this module: how many distinct bad inputs were tried (see -s output)."""
    print(f"\ndistinct bad inputs tried in this module: {len(set(TRIED))}")
    assert len(set(TRIED)) >= 60
