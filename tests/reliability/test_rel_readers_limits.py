"""Readers refuse what would blow memory or put wrong labels, from the declared layout, before
decoding: forged tile sizes, tiny files declaring huge images, sparse files, lossy or multi-page
labels, animations, FIFOs and devices; EXIF orientation is applied; Pillow's limit is ours."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from qsa_gui.core.data import guards
from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy
from qsa_gui.core.errors import InputFileError
from qsa_gui.core.project.store import Project

ROOT = Path(__file__).resolve().parents[2]

# runs `qsa ARGS` in a child limited to 3 GB of address space, reporting its peak RSS. The peak is
# VmHWM after a reset (clear_refs): ru_maxrss would keep the forking pytest parent's size.
_PROBE = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    def peak():
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 1024
except OSError:
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from qsa_gui.cli import main
try:
    rc = main(sys.argv[1:])
finally:
    print(json.dumps({"maxrss_mb": peak()}), file=sys.stderr)
sys.exit(rc)
"""


def _qsa_measured(*args: str) -> tuple[int, str, str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, timeout=300
    )
    lines = r.stderr.strip().splitlines()
    peak = json.loads(lines[-1])["maxrss_mb"]
    return r.returncode, r.stdout, "\n".join(lines[:-1]), peak


def _forged_tiles(path: Path, rgb: bool) -> None:
    """A ~1 KB tiled TIFF whose header claims 65520 x 65520 tiles (4.3 GB, RGB 12.9 GB, each)."""
    a = np.zeros((16, 16, 3) if rgb else (16, 16), np.uint8)
    tifffile.imwrite(path, a, tile=(16, 16), compression="zlib", photometric="rgb" if rgb else "minisblack")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["TileWidth"].overwrite(65520)
        tif.pages[0].tags["TileLength"].overwrite(65520)


def _forged_jpeg(path: Path, h: int = 12000, w: int = 12000) -> None:
    """A sub-kilobyte JPEG whose SOF header claims h x w (libjpeg fills the rest with grey)."""
    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    path.write_bytes(bytes(data))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    Project.create(tmp_path / "proj").close()
    return tmp_path / "proj"


def test_tiny_files_declaring_huge_pixels_are_refused_at_import_without_the_allocation(
    tmp_path: Path, project: Path
) -> None:
    files = {
        "tiles.tif": "declares tiles of 65520 x 65520",
        "tiles_rgb.tif": "declares tiles of 65520 x 65520",
        "grey.jpg": "compressed data",
        "sparse.tif": "sparse on disk",
    }
    _forged_tiles(tmp_path / "tiles.tif", rgb=False)
    _forged_tiles(tmp_path / "tiles_rgb.tif", rgb=True)
    _forged_jpeg(tmp_path / "grey.jpg")
    tifffile.imwrite(tmp_path / "sparse.tif", shape=(20000, 20000), dtype=np.uint8)  # 8 KB on disk
    assert max(os.path.getsize(tmp_path / f) for f in files if f != "sparse.tif") < 4096
    rc, _out, err, peak = _qsa_measured("import", str(project), *(str(tmp_path / f) for f in files))
    assert rc == 2, err
    for name, reason in files.items():
        line = next(ln for ln in err.splitlines() if name in ln)
        assert reason in line, line
    assert peak < 700, f"peak RSS {peak:.0f} MB: the declared pixels were allocated"
    used = sum(f.stat().st_size for f in (project / "images").rglob("*") if f.is_file())
    assert used < 1 << 20  # no 400 MB copy of the sparse file


def _forged_bmp_and_png(folder: Path) -> list[Path]:
    """A 16 x 16 BMP and PNG whose headers claim 12000 x 12000 (the PNG's IHDR CRC fixed up)."""
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "BMP")
    bmp = bytearray(buf.getvalue())
    bmp[18:26] = struct.pack("<ii", 12000, 12000)
    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    png[16:24] = struct.pack(">II", 12000, 12000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    (folder / "f.bmp").write_bytes(bytes(bmp))
    (folder / "f.png").write_bytes(bytes(png))
    return [folder / "f.bmp", folder / "f.png"]


def test_forged_files_are_refused_by_every_reader(tmp_path: Path) -> None:
    _forged_tiles(tmp_path / "t.tif", rgb=True)
    _forged_jpeg(tmp_path / "j.png")  # content sniffing: a JPEG under a .png name
    for p in (tmp_path / "t.tif", tmp_path / "j.png", *_forged_bmp_and_png(tmp_path)):
        for reader in (qio.read_image, qio.read_labels, qlazy.open_lazy):
            with pytest.raises(InputFileError, match="declares") as err:
                reader(p)
            assert str(p) in str(err.value)


def test_legit_highly_compressible_files_still_read(tmp_path: Path, monkeypatch) -> None:
    """The ratio rule must not refuse real files: blank PNG and zlib TIFF compress ~1000:1."""
    monkeypatch.setattr(guards, "MIN_CHECKED_BYTES", 1 << 16)
    blank = np.full((1024, 1024, 3), 255, np.uint8)
    png, tif = tmp_path / "b.png", tmp_path / "b.tif"
    qio.write_image(png, blank)
    tifffile.imwrite(tif, blank, photometric="rgb", compression="zlib", tile=(256, 256))
    for p in (png, tif):
        assert qio.read_image(p).shape == (1024, 1024, 3)
    truncated = tmp_path / "cut.tif"  # uncompressed and half missing: refused
    tifffile.imwrite(truncated, blank, photometric="rgb")
    truncated.write_bytes(truncated.read_bytes()[: 1024 * 1024])
    with pytest.raises(InputFileError, match="holds only"):
        qio.read_image(truncated)


def test_lazy_image_in_huge_compressed_strips_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Every region read would decode whole strips: too much for an image too large to decode whole."""
    p = tmp_path / "strips.tif"
    tifffile.imwrite(p, np.zeros((200, 150), np.uint8), compression="zlib", rowsperstrip=200)
    with qlazy.open_lazy(p) as lz:  # small enough to decode whole: fine
        assert lz.read_region(0, 10).shape == (10, 150)
    monkeypatch.setattr(qio, "MAX_PIXELS", 100 * 100)
    monkeypatch.setattr(guards, "MAX_SEGMENT_BYTES", 10_000)
    with pytest.raises(InputFileError, match="compressed strips of 200 rows"):
        qlazy.open_lazy(p)
    tiled = tmp_path / "tiled.tif"
    tifffile.imwrite(tiled, np.zeros((200, 150), np.uint8), compression="zlib", tile=(32, 32))
    with qlazy.open_lazy(tiled) as lz:
        assert lz.read_region(190, 200).shape == (10, 150)


# ------------------------------------------------------------------------------ labels


def _labels_import(tmp_path: Path, project: Path, write_label) -> tuple[int, str]:
    imgs, labs = tmp_path / "imgs", tmp_path / "labs"
    imgs.mkdir(), labs.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(imgs / "g1.tif", rng.integers(0, 256, (32, 48, 3), dtype=np.uint8), photometric="rgb")
    lab = np.zeros((32, 48), np.uint8)
    lab[4:20, 5:30], lab[22:30, 30:44] = 1, 2
    write_label(labs, lab)
    rc, _out, err, _peak = _qsa_measured("import", str(project), str(imgs), "--labels", str(labs))
    return rc, err


def test_jpeg_label_is_refused_at_import(tmp_path: Path, project: Path) -> None:
    rc, err = _labels_import(tmp_path, project, lambda d, lab: Image.fromarray(lab * 100).save(d / "g1.jpg"))
    assert rc == 2 and "g1.jpg" in err and "lossy" in err, err


def test_lossy_labels_are_refused(tmp_path: Path) -> None:
    lab = np.zeros((32, 48), np.uint8)
    lab[4:20, 5:30] = 1
    cases = {
        "jpeg-tiff": lambda p: tifffile.imwrite(p, lab, compression="jpeg"),
        "webp-as-png": lambda p: Image.fromarray(lab).save(p, "WEBP", quality=80),
    }
    for name, write in cases.items():
        p = tmp_path / f"{name}{'.tif' if 'tiff' in name else '.png'}"
        write(p)
        assert qio.read_image(p).shape[:2] == (32, 48)  # as an image it is fine
        with pytest.raises(InputFileError, match="lossy") as err:
            qio.read_labels(p)
        assert p.name in str(err.value)
    lossless = tmp_path / "lossless-webp.png"
    Image.fromarray(lab).save(lossless, "WEBP", lossless=True)
    np.testing.assert_array_equal(qio.read_labels(lossless), lab)


def test_two_page_label_tiff_is_refused_not_read_as_gray_alpha(tmp_path: Path, project: Path) -> None:
    def two_pages(d: Path, lab: np.ndarray) -> None:
        with tifffile.TiffWriter(d / "g1_anno.tif") as tw:
            tw.write(lab)
            tw.write(lab[::-1].copy())

    rc, err = _labels_import(tmp_path, project, two_pages)
    assert rc == 2 and "g1_anno.tif" in err and "2 pages" in err, err
    stacked = tmp_path / "stacked.tif"  # one (2, H, W) array: as an image it is gray + alpha
    lab = np.zeros((32, 48), np.uint8)
    tifffile.imwrite(stacked, np.stack([lab + 1, lab + 2]))
    assert qio.read_image(stacked).shape == (32, 48, 2)
    with pytest.raises(InputFileError, match="2 pages"):
        qio.read_labels(stacked)


# ------------------------------------------------------------------------------ frames, orientation


def test_animations_are_refused_naming_the_frame_count(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 120, 250)]
    apng, gif = tmp_path / "a.png", tmp_path / "g.png"
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:])
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    for p in (apng, gif):
        for reader in (qio.read_image, qio.read_labels, qlazy.open_lazy):
            with pytest.raises(InputFileError, match="3 frames"):
                reader(p)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_images_and_labels(tmp_path: Path, orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    a = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    p = tmp_path / "o.png"
    im.save(p, exif=exif)
    with Image.open(p) as ref:
        expected = np.asarray(ImageOps.exif_transpose(ref).convert("RGB"))
    np.testing.assert_array_equal(qio.read_image(p), expected)
    lab = tmp_path / "l.png"
    Image.fromarray(a[:, :, 0]).save(lab, exif=exif)
    np.testing.assert_array_equal(qio.read_labels(lab), expected[:, :, 0].astype(np.int32))
    t = tmp_path / "o.tif"  # the TIFF Orientation tag follows the same rule
    tifffile.imwrite(t, a, photometric="rgb", extratags=[(274, 3, 1, orientation, True)])
    np.testing.assert_array_equal(qio.read_image(t), expected)
    with qlazy.open_lazy(t) as lz:
        np.testing.assert_array_equal(lz.read_region(0, lz.shape[0]), expected)


# ------------------------------------------------------------------------------ special files


def test_fifo_and_device_are_not_regular_files_and_never_block(tmp_path: Path, project: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.tif"
    zero.symlink_to("/dev/zero")
    for p in (fifo, zero):
        with pytest.raises(InputFileError, match="not a regular file"):
            qio.read_image(p)
        with pytest.raises(InputFileError, match="not a regular file"):
            qlazy.open_lazy(p)
    rc, _out, err, _peak = _qsa_measured("import", str(project), str(fifo), str(zero))
    assert rc == 2
    assert "pipe.png: not a regular file (a FIFO)" in err and "zero.tif: not a regular file (a device)" in err


def test_pillow_limit_is_ours(tmp_path: Path, monkeypatch) -> None:
    """Pillow refuses above twice its own MAX_IMAGE_PIXELS (default 179 Mpx); ours is MAX_PIXELS."""
    p = tmp_path / "a.png"
    qio.write_image(p, np.zeros((40, 50, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # as if 2000 px were a 179+ Mpx PNG
    assert qio.read_image(p).shape == (40, 50, 3)
    monkeypatch.setattr(qio, "MAX_PIXELS", 1999)
    with pytest.raises(InputFileError, match="50 x 40 pixels"):
        qio.read_image(p)


@pytest.mark.slow
def test_a_180_mpx_png_reads(tmp_path: Path) -> None:
    import imagecodecs

    p = tmp_path / "big.png"
    p.write_bytes(imagecodecs.png_encode(np.zeros((13500, 13400), np.uint8), level=1))
    assert qio.read_image(p).shape == (13500, 13400)
