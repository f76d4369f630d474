"""Tests for qsa_gui.core.data.images: formats, layouts, bit depths, broken files, labels, GlaS folders."""

from __future__ import annotations

import io as _io
import tempfile
import warnings
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from qsa_gui.core.data.glas import GlasItem, read_glas_folder
from qsa_gui.core.data.images import (
    SUPPORTED_SUFFIXES,
    load_rgb,
    read_image,
    read_labels,
    to_float_rgb,
    write_image,
    write_labels,
)
from qsa_gui.core.errors import InputFileError

RNG = np.random.default_rng(1234)


def _rand(shape, dtype=np.uint8):
    info = np.iinfo(dtype)
    return RNG.integers(0, int(info.max) + 1, shape, dtype=dtype)


def _shared_data() -> Path | None:
    for root in (Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")):
        if (root / "he").is_dir():
            return root
    return None


# ------------------------------------------------------------------ formats and layouts


def test_supported_suffixes_match_contract():
    assert {".tif", ".tiff", ".ome.tif", ".png", ".jpg", ".jpeg", ".bmp"} <= SUPPORTED_SUFFIXES


@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((9, 7), np.uint8),
        ((9, 7, 3), np.uint8),
        ((9, 7, 4), np.uint8),
        ((9, 7, 2), np.uint8),
        ((9, 7), np.uint16),
        ((9, 7, 3), np.uint16),
        ((1, 1), np.uint8),
        ((1, 1, 3), np.uint16),
    ],
)
def test_png_round_trip_exact(tmp_path, shape, dtype):
    a = _rand(shape, dtype)
    p = tmp_path / "x.png"
    p.write_bytes(imagecodecs.png_encode(a))
    b = read_image(p)
    assert b.dtype == dtype and b.shape == shape
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize(
    "shape,dtype,photometric",
    [
        ((8, 6), np.uint8, "minisblack"),
        ((8, 6, 3), np.uint8, "rgb"),
        ((8, 6, 3), np.uint16, "rgb"),
        ((8, 6), np.uint16, "minisblack"),
        ((8, 6), np.float32, "minisblack"),
        ((8, 6, 4), np.uint8, "rgb"),
        ((1, 1), np.uint8, "minisblack"),
    ],
)
def test_tiff_round_trip_exact(tmp_path, shape, dtype, photometric):
    a = RNG.random(shape).astype(dtype) if dtype == np.float32 else _rand(shape, dtype)
    p = tmp_path / "x.tif"
    kw = {"extrasamples": ["unassalpha"]} if shape[-1:] == (4,) else {}
    tifffile.imwrite(p, a, photometric=photometric, compression="zlib", **kw)
    b = read_image(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)


def test_ome_tiff_and_uppercase_suffix(tmp_path):
    a = _rand((10, 12, 3))
    p = tmp_path / "slide.OME.TIF"
    tifffile.imwrite(p, a, photometric="rgb", ome=True)
    np.testing.assert_array_equal(read_image(p), a)


def test_tiff_channel_first_is_moved_last(tmp_path):
    a = _rand((3, 10, 12))
    p = tmp_path / "cf.tif"
    tifffile.imwrite(p, a, photometric="minisblack")  # stored as 3 pages
    b = read_image(p)
    assert b.shape == (10, 12, 3)
    np.testing.assert_array_equal(b, np.moveaxis(a, 0, -1))


def test_tiff_naive_channel_last_array(tmp_path):
    a = _rand((10, 12, 2))
    p = tmp_path / "two.tif"
    tifffile.imwrite(p, a)  # tifffile writes this as 10 pages of 12 x 2
    b = read_image(p)
    assert b.shape == (10, 12, 2)
    np.testing.assert_array_equal(b, a)


def test_tiff_singleton_page_is_squeezed(tmp_path):
    a = _rand((1, 10, 12))
    p = tmp_path / "one.tif"
    tifffile.imwrite(p, a)
    np.testing.assert_array_equal(read_image(p), a[0])


@pytest.mark.parametrize("shape,n", [((5, 10, 12), 5), ((4, 3, 10, 12), 12), ((2, 10, 12, 3), 2)])
def test_tiff_stack_is_refused(tmp_path, shape, n):
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, _rand(shape), photometric="rgb" if shape[-1] == 3 else "minisblack")
    with pytest.raises(InputFileError, match=f"stack of {n} "):
        read_image(p)


def test_tiff_z_stack_of_three_is_not_taken_for_rgb(tmp_path):
    p = tmp_path / "z.ome.tif"
    tifffile.imwrite(p, _rand((3, 10, 12)), ome=True, metadata={"axes": "ZYX"})
    with pytest.raises(InputFileError, match="stack of 3"):
        read_image(p)


def test_bmp_and_palette(tmp_path):
    a = _rand((7, 5, 3))
    p = tmp_path / "x.bmp"
    Image.fromarray(a).save(p)
    np.testing.assert_array_equal(read_image(p), a)
    idx = (np.arange(35).reshape(7, 5) % 4).astype(np.uint8)
    im = Image.fromarray(idx, mode="P")
    palette = [10, 20, 30, 200, 0, 0, 0, 200, 0, 0, 0, 200] + [0] * (256 * 3 - 12)
    im.putpalette(palette)
    pp = tmp_path / "pal.bmp"
    im.save(pp)
    rgb = read_image(pp)  # images: palette expanded to colours
    assert rgb.shape == (7, 5, 3)
    np.testing.assert_array_equal(rgb[idx == 1], np.tile([200, 0, 0], (int((idx == 1).sum()), 1)))
    np.testing.assert_array_equal(read_labels(pp), idx)  # labels: the indices themselves


def test_jpeg_reads_close_to_source(tmp_path):
    yy, xx = np.mgrid[0:32, 0:48]
    a = np.stack([yy * 7, xx * 5, (yy + xx) * 3], -1).astype(np.uint8)
    p = tmp_path / "x.jpeg"
    Image.fromarray(a).save(p, quality=98)
    b = read_image(p)
    assert b.shape == a.shape and b.dtype == np.uint8
    assert np.abs(b.astype(int) - a).mean() < 3.0


def test_content_sniffing_beats_suffix(tmp_path):
    a = _rand((6, 6, 3))
    p = tmp_path / "actually_png.jpg"
    p.write_bytes(imagecodecs.png_encode(a))
    np.testing.assert_array_equal(read_image(p), a)


# ------------------------------------------------------------------ normalisation


def test_to_float_rgb_scaling_rules():
    u8 = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(to_float_rgb(u8)[..., 0], [[0, 1]])
    u16 = np.array([[0, 65535, 32768]], np.uint16)
    np.testing.assert_allclose(to_float_rgb(u16)[..., 1], [[0, 1, 32768 / 65535]], rtol=1e-6)
    twelve = np.array([[0, 4095, 2048]], np.uint16)  # 12-bit camera data in a uint16 container
    np.testing.assert_allclose(to_float_rgb(twelve)[..., 2], [[0, 1, 2048 / 4095]], rtol=1e-6)
    f255 = np.array([[0.0, 127.5, 255.0]], np.float64)
    np.testing.assert_allclose(to_float_rgb(f255)[..., 0], [[0, 0.5, 1]], rtol=1e-6)
    fclip = np.array([[-0.5, 0.25, 1.0]], np.float32)
    np.testing.assert_allclose(to_float_rgb(fclip)[..., 0], [[0, 0.25, 1]])
    out = to_float_rgb(u16)
    assert out.dtype == np.float32 and out.shape == (1, 3, 3) and out.flags.c_contiguous


def test_to_float_rgb_channels():
    gray = np.array([[0, 51]], np.uint8)
    out = to_float_rgb(gray)
    np.testing.assert_allclose(out[0, 1], [0.2, 0.2, 0.2], rtol=1e-6)
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 0, 51]]], np.uint8)
    out = to_float_rgb(rgba)  # alpha composited on white
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])
    np.testing.assert_allclose(out[0, 1], [1, 1, 1])
    np.testing.assert_allclose(out[0, 2], [0.8, 0.8, 0.8], rtol=1e-6)
    la = np.array([[[0, 255], [0, 0]]], np.uint8)
    np.testing.assert_allclose(to_float_rgb(la)[0], [[0, 0, 0], [1, 1, 1]])
    one = np.array([[[10]]], np.uint8)
    assert to_float_rgb(one).shape == (1, 1, 3)


def test_to_float_rgb_refuses_nan_and_bad_shapes():
    with pytest.raises(InputFileError, match="NaN"):
        to_float_rgb(np.array([[np.nan, 0.0]]), "a.tif")
    with pytest.raises(InputFileError):
        to_float_rgb(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(InputFileError):
        to_float_rgb(np.zeros((0, 3), np.uint8))


def test_load_rgb(tmp_path):
    a = _rand((5, 4, 3))
    p = tmp_path / "x.png"
    p.write_bytes(imagecodecs.png_encode(a))
    out = load_rgb(p)
    assert out.dtype == np.float32 and out.shape == (5, 4, 3)
    np.testing.assert_allclose(out, a / 255.0, atol=1e-7)


# ------------------------------------------------------------------ broken inputs


def _good_bytes(fmt: str) -> bytes:
    a = _rand((40, 40, 3))
    if fmt == "png":
        return bytes(imagecodecs.png_encode(a))
    buf = _io.BytesIO()
    if fmt == "tif":
        tifffile.imwrite(buf, a, photometric="rgb", compression="zlib")
    else:
        Image.fromarray(a).save(buf, format={"jpg": "JPEG", "bmp": "BMP"}[fmt])
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["png", "tif", "jpg", "bmp"])
@pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
def test_broken_files_raise_input_file_error(tmp_path, fmt, damage):
    data = _good_bytes(fmt)
    if damage == "random":
        data = np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8).tobytes()
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = b""
    p = tmp_path / f"bad.{fmt}"
    p.write_bytes(data)
    with pytest.raises(InputFileError) as err:
        read_image(p)
    assert err.value.path == p and "bad." in str(err.value)
    assert "\n" not in str(err.value)
    if damage != "empty":
        assert err.value.__cause__ is not None or "stack" in err.value.reason


def test_missing_unknown_and_folder(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_image(tmp_path / "nope.png")
    g = tmp_path / "x.gif"
    g.write_bytes(b"GIF89a")
    with pytest.raises(InputFileError, match="unsupported file type '.gif'"):
        read_image(g)
    with pytest.raises(InputFileError, match="not a file"):
        read_image(tmp_path)
    n = tmp_path / "noext"
    n.write_bytes(b"x")
    with pytest.raises(InputFileError, match="unsupported"):
        read_image(n)


def test_zero_size_tiff_is_refused(tmp_path):
    p = tmp_path / "empty.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile warns that the file is nonconformant: the point
        tifffile.imwrite(p, np.zeros((0, 5), np.uint8))
    with pytest.raises(InputFileError):
        read_image(p)


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize(
    "maxid,dtype", [(7, np.uint16), (65535, np.uint16), (65536, np.uint32), (2**31 - 1, np.uint32)]
)
def test_labels_round_trip_exact(tmp_path, maxid, dtype):
    lab = RNG.integers(0, 50, (33, 21)).astype(np.int64)
    lab[3, 4] = maxid
    p = tmp_path / "lab.tif"
    write_labels(p, lab)
    with tifffile.TiffFile(p) as t:
        assert t.pages[0].dtype == dtype
        assert t.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    back = read_labels(p, expected_shape=(33, 21, 3))
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, lab)
    assert [f.name for f in tmp_path.iterdir()] == ["lab.tif"]  # no temp files left behind


def test_write_labels_replaces_atomically_and_validates(tmp_path):
    p = tmp_path / "l.tiff"
    write_labels(p, np.ones((4, 4), np.int32))
    write_labels(p, np.full((4, 4), 2, np.uint8))
    np.testing.assert_array_equal(read_labels(p), 2)
    with pytest.raises(ValueError):
        write_labels(p, np.array([[-1, 0]]))
    with pytest.raises(ValueError):
        write_labels(p, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        write_labels(p, np.zeros((2, 2, 2), np.int32))
    with pytest.raises(InputFileError, match="TIFF|tif"):
        write_labels(tmp_path / "l.png", np.zeros((2, 2), np.int32))
    np.testing.assert_array_equal(read_labels(p), 2)  # failed writes left the old file intact


def test_read_labels_rules(tmp_path):
    base = (np.arange(20).reshape(4, 5) % 3).astype(np.uint8)
    p = tmp_path / "rgb_equal.png"
    p.write_bytes(imagecodecs.png_encode(np.repeat(base[:, :, None], 3, 2)))
    np.testing.assert_array_equal(read_labels(p), base)
    colour = np.stack([base, base, base[::-1]], -1)
    c = tmp_path / "colour.png"
    c.write_bytes(imagecodecs.png_encode(np.ascontiguousarray(colour)))
    with pytest.raises(InputFileError, match="colour"):
        read_labels(c)
    neg = tmp_path / "neg.tif"
    tifffile.imwrite(neg, np.array([[0, -2]], np.int16))
    with pytest.raises(InputFileError, match="negative"):
        read_labels(neg)
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, np.array([[0, 2**31 + 5]], np.uint32))
    with pytest.raises(InputFileError, match="int32"):
        read_labels(big)
    frac = tmp_path / "frac.tif"
    tifffile.imwrite(frac, np.array([[0, 1.5]], np.float32))
    with pytest.raises(InputFileError, match="non-integer"):
        read_labels(frac)
    with pytest.raises(InputFileError, match=r"\(4, 5\).*\(5, 4\)"):
        read_labels(p, expected_shape=(5, 4))
    gray16 = tmp_path / "g16.png"
    g = np.array([[0, 300], [70000 % 65536, 1]], np.uint16)
    gray16.write_bytes(imagecodecs.png_encode(g))
    np.testing.assert_array_equal(read_labels(gray16), g.astype(np.int32))


def test_write_image_png_and_tiff(tmp_path):
    a = _rand((6, 9, 3))
    for name in ("o.png", "o.tif"):
        write_image(tmp_path / name, a)
        np.testing.assert_array_equal(read_image(tmp_path / name), a)
    with pytest.raises(InputFileError):
        write_image(tmp_path / "o.jpg", a)
    with pytest.raises(ValueError):
        write_image(tmp_path / "o.png", a.astype(np.float32))


# ------------------------------------------------------------------ GlaS folder


def _glas(tmp_path: Path, names: list[str], grades: str | None) -> Path:
    root = tmp_path / "glas"
    root.mkdir()
    a = _rand((4, 4, 3))
    for n in names:
        Image.fromarray(a).save(root / f"{n}.bmp")
    if grades is not None:
        (root / "Grade.csv").write_text(grades)
    return root


GRADE_CSV = (
    "name, patient ID, grade (GlaS), grade (Sirinukunwattana et al. 2015)\n"
    "train_1, 1, malignant, moderately differentiated\n"
    "train_2,2, benign, healthy\n"
    "train_10, 3,  Benign ,adenomatous\n"
    "testA_1, 4, malignant, poorly differentiated\n"
    "testB_2, 5, benign, healthy\n"
)


def test_glas_folder(tmp_path):
    names = [
        "train_1",
        "train_1_anno",
        "train_10",
        "train_10_anno",
        "train_2",
        "train_2_anno",
        "testA_1",
        "testA_1_anno",
        "testB_2",
        "testB_2_anno",
        "train_3",
    ]
    root = _glas(tmp_path, names, GRADE_CSV)
    (root / "notes.txt").write_text("ignored")
    ds = read_glas_folder(root)
    assert [i.name for i in ds.train] == ["train_1", "train_2", "train_3", "train_10"]
    assert [i.grade for i in ds.train] == ["malignant", "benign", None, "benign"]
    assert ds.train[0] == GlasItem("train_1", root / "train_1.bmp", root / "train_1_anno.bmp", "malignant")
    assert ds.train[2].label_path is None  # unlabelled training image: part of the pool
    assert [i.name for i in ds.test_a] == ["testA_1"] and ds.test_a[0].grade == "malignant"
    assert [i.name for i in ds.test_b] == ["testB_2"] and ds.test_b[0].grade == "benign"
    assert len(ds.all_items()) == 6


def test_glas_folder_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_glas_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no GlaS images"):
        read_glas_folder(tmp_path / "empty")
    root = _glas(tmp_path, ["testA_3"], None)
    with pytest.raises(InputFileError, match="annotation") as err:
        read_glas_folder(root)
    assert err.value.path.name == "testA_3.bmp"


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["train_1", "train_01", "train_1_anno"], "two files for the same GlaS image"),
        (["train_1", "train_01_anno"], "does not match its image's name"),
    ],
)
def test_glas_folder_refuses_twins_by_number(tmp_path, names, match):
    """train_01 and train_1 share the number 1: neither may silently replace the other."""
    root = _glas(tmp_path, names, None)
    with pytest.raises(InputFileError, match=match):
        read_glas_folder(root)


def test_glas_folder_orphan_anno_and_bad_grade(tmp_path):
    root = _glas(tmp_path, ["train_1", "train_2_anno"], None)
    with pytest.raises(InputFileError, match="without its image"):
        read_glas_folder(root)
    root2 = tmp_path / "g2"
    root2.mkdir()
    Image.fromarray(_rand((4, 4, 3))).save(root2 / "train_1.bmp")
    (root2 / "Grade.csv").write_text("name,grade (GlaS)\ntrain_1, weird\n")
    with pytest.raises(InputFileError, match="unknown grade"):
        read_glas_folder(root2)
    (tmp_path / "x").mkdir()
    root3 = _glas(tmp_path / "x", ["train_1"], None)  # no Grade.csv: grades unknown
    assert read_glas_folder(root3).train[0].grade is None


# ------------------------------------------------------------------ property test

_arrays = st.one_of(
    hnp.arrays(
        st.sampled_from([np.uint8, np.uint16]),
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    ),
    hnp.arrays(
        st.sampled_from([np.uint8, np.uint16]),
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_arrays, fmt=st.sampled_from(["tif", "png"]))
def test_read_image_property(a, fmt):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"x.{fmt}"
        if fmt == "png":
            p.write_bytes(imagecodecs.png_encode(np.ascontiguousarray(a)))
        else:
            tifffile.imwrite(p, a, photometric="rgb" if a.ndim == 3 else "minisblack")
        b = read_image(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    f = to_float_rgb(b)
    assert f.dtype == np.float32 and f.shape == (*a.shape[:2], 3)
    assert float(f.min()) >= 0.0 and float(f.max()) <= 1.0
    # ordering of intensities is preserved (a monotone rescale)
    flat_a = (a if a.ndim == 2 else a[..., 0]).ravel().astype(np.int64)
    flat_f = f[..., 0].ravel()
    order = np.argsort(flat_a, kind="stable")
    assert np.all(np.diff(flat_f[order]) >= 0)


# ------------------------------------------------------------------ real images

DATA = _shared_data()


@pytest.mark.skipif(DATA is None, reason="shared/data/he not available")
@pytest.mark.parametrize(
    "name,shape",
    [
        ("tumour_1000.png", (1000, 1000, 3)),
        ("histo_300x500.jpg", (300, 500, 3)),
        ("skin.tif", (960, 1280, 3)),
    ],
)
def test_real_he_images(name, shape):
    p = DATA / "he" / name
    a = read_image(p)
    assert a.shape == shape and a.dtype == np.uint8
    f = load_rgb(p)
    assert f.shape == shape and f.dtype == np.float32
    # H&E: red channel brighter than green on average (pink/purple, never green)
    assert f[..., 0].mean() > f[..., 1].mean()


@pytest.mark.skipif(DATA is None, reason="shared/data/he not available")
def test_real_svs_is_an_unsupported_suffix():
    p = DATA / "he" / "cmu_small_region.svs"
    if not p.exists():
        pytest.skip("no svs sample")
    with pytest.raises(InputFileError, match="unsupported file type"):
        read_image(p)
