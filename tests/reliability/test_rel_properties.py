"""Property-based reliability tests (hypothesis, derandomized: the same examples every run).

* Readers on arbitrary bytes (random, and valid files damaged by truncation and byte flips):
  a valid image array or one :class:`InputFileError` naming the file, nothing else.
* Readers on arbitrary arrays written as TIFF: read back exactly, or refused with the reason the
  documented rules give; labels are accepted iff they are whole, non-negative and fit int32.
* The project store under random operation sequences with injected disk failures (full disk,
  permission denied, I/O error at a random fsync/rename) and reopenings: after every step the
  project on disk reopens to exactly the state of a reference model that applied only the
  operations that reported success.
"""

from __future__ import annotations

import errno
import io as pyio
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from rel_helpers import N_IMAGES, labels_for, make_project

from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy
from qsa_gui.core.errors import InputFileError, QSAError
from qsa_gui.core.project.store import Project

PROFILE = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
COUNTS: dict[str, int] = {}


def _count(key: str) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + 1


def _valid_files() -> dict[str, bytes]:
    from PIL import Image

    img = np.random.default_rng(3).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    out = {}
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp")):
        buf = pyio.BytesIO()
        Image.fromarray(img).save(buf, format=fmt)
        out[suffix] = buf.getvalue()
    for name, kwargs in {
        ".tif": {"photometric": "rgb", "compression": "zlib"},
        ".tiff": {"photometric": "rgb", "tile": (16, 16)},
        ".ome.tif": {"photometric": "rgb"},
    }.items():
        buf = pyio.BytesIO()
        tifffile.imwrite(buf, img, **kwargs)
        out[name] = buf.getvalue()
    return out


VALID = _valid_files()


@st.composite
def damaged_files(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(VALID)))
    kind = draw(st.sampled_from(["random", "truncate", "flip", "splice"]))
    data = VALID[suffix]
    if kind == "random":
        return suffix, draw(st.binary(min_size=0, max_size=600))
    if kind == "truncate":
        return suffix, data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
        return suffix, bytes(b)
    other = VALID[draw(st.sampled_from(sorted(VALID)))]  # header of one, body of another
    cut = draw(st.integers(1, min(len(data), len(other)) - 1))
    return suffix, data[:cut] + other[cut:]


@settings(PROFILE, max_examples=250)
@given(case=damaged_files())
def test_readers_on_damaged_bytes_give_an_image_or_a_named_error(tmp_path: Path, case) -> None:
    suffix, data = case
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    _count("damaged files")
    for reader in (qio.read_image, qio.load_rgb, qio.read_labels):
        try:
            out = reader(path)
        except InputFileError as err:
            assert str(path) in str(err) and err.reason
            continue
        assert out.ndim in (2, 3) and out.size > 0
        if reader is qio.load_rgb:
            assert out.dtype == np.float32 and out.shape[2] == 3
            assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        if reader is qio.read_labels:
            assert out.dtype == np.int32 and out.ndim == 2 and out.min() >= 0
    try:
        with qlazy.open_lazy(path) as lazy:
            h, w = lazy.shape[:2]
            region = lazy.read_rgb(0, h)
            np.testing.assert_array_equal(region, qio.load_rgb(path))
    except InputFileError as err:
        assert str(path) in str(err)


DTYPES = st.sampled_from(
    ["uint8", "uint16", "int8", "int16", "int32", "uint32", "int64", "float32", "float64", "bool"]
)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(DTYPES))
    # (tifffile packs multi-sample bool pixels wrongly: bool images are single-channel here)
    channels = None if dtype == np.bool_ else draw(st.sampled_from([None, 1, 2, 3, 4, 5]))
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 9))) + (() if channels is None else (channels,))
    if dtype.kind == "f":
        width = dtype.itemsize * 8
        elements = st.floats(-2, 300, width=width) | st.sampled_from(
            [np.nan, np.inf, -np.inf, 0.5, 1.0, 70000.0]
        )
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(PROFILE, max_examples=200)
@given(arr=arrays())
def test_readers_on_arbitrary_arrays_follow_the_documented_rules(tmp_path: Path, arr: np.ndarray) -> None:
    path = tmp_path / "a.tif"
    extra = {"planarconfig": "contig"} if arr.ndim == 3 and arr.shape[2] > 1 else {}
    tifffile.imwrite(path, arr, photometric="minisblack", **extra)
    _count("arrays")
    expect = arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    # raw reading: exact, unless more than 4 channels
    if arr.ndim == 3 and arr.shape[2] > 4:
        with pytest.raises(InputFileError, match="channels"):
            qio.read_image(path)
        return
    raw = qio.read_image(path)
    np.testing.assert_array_equal(raw, expect)
    # models' input: finite float32 RGB in [0, 1], or refused for NaN / inf
    finite = np.isfinite(arr).all() if arr.dtype.kind == "f" else True
    if finite:
        rgb = qio.load_rgb(path)
        assert rgb.shape == (*arr.shape[:2], 3) and rgb.dtype == np.float32
        assert rgb.min() >= 0.0 and rgb.max() <= 1.0
        with qlazy.open_lazy(path) as lazy:
            np.testing.assert_array_equal(lazy.read_rgb(0, arr.shape[0]), rgb)
    else:
        with pytest.raises(InputFileError, match="NaN"):
            qio.load_rgb(path)
    # labels: whole, non-negative, int32-sized, one channel (or equal colour channels)
    lab_src = expect
    if expect.ndim == 3:
        colour = expect[:, :, :3] if expect.shape[2] >= 3 else expect[:, :, :1]
        if not np.all(colour == colour[:, :, :1]):
            with pytest.raises(InputFileError, match="colour"):
                qio.read_labels(path)
            return
        lab_src = colour[:, :, 0]
    values = lab_src.astype(np.float64) if lab_src.dtype.kind == "f" else lab_src
    ok = (
        (
            lab_src.dtype.kind != "f"
            or (np.isfinite(values).all() and np.array_equal(values, np.round(values)))
        )
        and values.min() >= 0
        and values.max() <= np.iinfo(np.int32).max
    )
    if ok:
        got = qio.read_labels(path)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, lab_src.astype(np.int64))
    else:
        with pytest.raises(InputFileError):
            qio.read_labels(path)


# ----------------------------------------------------------------------- project state machine

FAILURES = [
    ("fsync", OSError(errno.ENOSPC, "No space left on device")),
    ("replace", OSError(errno.ENOSPC, "No space left on device")),
    ("replace", PermissionError(errno.EACCES, "Permission denied")),
    ("fsync", OSError(errno.EIO, "Input/output error")),
]


class ProjectStore(RuleBasedStateMachine):
    """Random label saves, status changes, predictions and reopenings, each possibly hit by a
    disk failure at its n-th fsync/rename. Reference: what reported success."""

    folder: Path

    @initialize()
    def setup(self) -> None:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory()
        self.folder = Path(self._tmp.name) / "p"
        self.proj = make_project(self.folder)
        self.ids = [r.id for r in self.proj.images]
        self.labels: dict[int, int | None] = dict.fromkeys(range(N_IMAGES))
        self.status: dict[int, str] = dict.fromkeys(range(N_IMAGES), "unlabelled")
        self.pred: dict[int, int | None] = dict.fromkeys(range(N_IMAGES))
        self.version = 0
        self.failed = 0

    def teardown(self) -> None:
        if hasattr(self, "proj"):
            self.proj.close()
            self._tmp.cleanup()

    def _attempt(self, fn, failure: int | None, at: int) -> bool:
        """Run fn, optionally with os.<name> failing from its ``at``-th call; True if it succeeded.
        (A failure injected after the last call of an operation simply never fires.)"""
        if failure is None:
            fn()
            return True
        name, exc = FAILURES[failure]
        real = getattr(os, name)
        calls = {"n": 0}

        def broken(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] >= at:
                raise exc
            return real(*args, **kwargs)

        setattr(os, name, broken)
        try:
            fn()
            return True
        except QSAError as err:
            assert str(self.folder) in str(err)
            self.failed += 1
            _count("injected failures")
            return False
        finally:
            setattr(os, name, real)

    @rule(
        i=st.integers(0, N_IMAGES - 1),
        done=st.booleans(),
        failure=st.none() | st.integers(0, len(FAILURES) - 1),
        at=st.integers(1, 6),
    )
    def save_labels(self, i: int, done: bool, failure: int | None, at: int) -> None:
        self.version += 1
        v = self.version
        ok = self._attempt(
            lambda: self.proj.save_labels(self.ids[i], labels_for(i, v), done=done), failure, at
        )
        _count("operations")
        if ok:
            self.labels[i] = v
            if done:
                self.status[i] = "labelled"
            elif self.status[i] == "unlabelled":
                self.status[i] = "in_progress"
        else:
            # the labels file may already hold v (written before the manifest failed)
            self.labels[i] = self._on_disk_labels(i)

    def _on_disk_labels(self, i: int) -> int | None:
        got = self.proj.load_labels(self.ids[i])
        if got is None:
            return None
        for v in range(self.version, 0, -1):
            if np.array_equal(got, labels_for(i, v)):
                return v
        raise AssertionError(f"labels of image {i} are no version ever saved")

    @precondition(lambda self: any(s == "labelled" for s in self.status.values()))
    @rule(data=st.data(), failure=st.none() | st.integers(0, len(FAILURES) - 1), at=st.integers(1, 4))
    def reopen_for_editing(self, data: st.DataObject, failure: int | None, at: int) -> None:
        i = data.draw(st.sampled_from([k for k, s in self.status.items() if s == "labelled"]))
        if self._attempt(lambda: self.proj.set_status(self.ids[i], "in_progress"), failure, at):
            self.status[i] = "in_progress"
        _count("operations")

    @rule(
        i=st.integers(0, N_IMAGES - 1),
        failure=st.none() | st.integers(0, len(FAILURES) - 1),
        at=st.integers(1, 6),
    )
    def save_prediction(self, i: int, failure: int | None, at: int) -> None:
        self.version += 1
        v = self.version
        fn = lambda: self.proj.save_prediction(self.ids[i], labels_for(i, v + 90000), f"seg-v{v:04d}")  # noqa: E731
        if self._attempt(fn, failure, at):
            self.pred[i] = v
        _count("operations")

    @rule()
    def reopen(self) -> None:
        self.proj.close()
        self.proj = Project.open(self.folder)
        _count("reopenings")

    @invariant()
    def disk_matches_reference(self) -> None:
        if not hasattr(self, "proj"):
            return
        with Project.open(self.folder, read_only=True) as ro:
            for i, image_id in enumerate(self.ids):
                rec = ro.image(image_id)
                assert rec.status == self.status[i], (image_id, rec.status, self.status[i])
                assert rec.status == self.proj.image(image_id).status  # memory == disk
                got = ro.load_labels(image_id)
                want = self.labels[i]
                if want is None:
                    assert got is None or self.status[i] == "unlabelled"
                else:
                    np.testing.assert_array_equal(got, labels_for(i, want))
                pred = ro.load_prediction(image_id)
                if self.pred[i] is None:
                    assert pred is None
                else:
                    np.testing.assert_array_equal(pred, labels_for(i, self.pred[i] + 90000))
        leftovers = list(self.folder.rglob(".*.tmp"))
        assert not leftovers, leftovers


ProjectStore.TestCase.settings = settings(
    PROFILE, max_examples=25, stateful_step_count=12, suppress_health_check=list(HealthCheck)
)
TestProjectStoreWithInjectedFailures = ProjectStore.TestCase


def test_zz_report_counts() -> None:
    print(f"\nproperty-test inputs: {COUNTS}")
