"""The he_nuclei tile pool: a contiguous, separate test block per image; real data when present."""

from pathlib import Path

import numpy as np
import pytest

from qsa_gui.core.data.he_nuclei import cut_tiles, find_he_nuclei, load_he_nuclei, relabel
from qsa_gui.core.data.images import write_image, write_labels
from qsa_gui.core.errors import InputFileError

SHARED = [Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")]


def test_relabel_renumbers_cut_instances():
    lab = np.array([[0, 7, 7], [9, 9, 0]], dtype=np.int32)
    assert relabel(lab).tolist() == [[0, 1, 1], [2, 2, 0]]
    assert relabel(np.array([[5, 5]])).tolist() == [[1, 1]]  # no background: ids still start at 1


def test_cut_tiles_keeps_test_rows_apart_from_the_pool():
    img = np.random.default_rng(0).random((100, 60, 3)).astype(np.float32)
    lab = np.arange(100 * 60, dtype=np.int32).reshape(100, 60)
    pool, test = cut_tiles(img, lab, "x", tile=20, test_rows=1, gap_rows=1)
    assert [s.row for _, _, s in pool] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # row 3 is the gap
    assert {s.row for _, _, s in test} == {4}
    im, lb, src = test[1]
    assert np.array_equal(im, img[80:100, 20:40])
    assert lb.max() == 400 and lb.min() == 1  # 400 distinct ids renumbered 1..400
    with pytest.raises(ValueError, match="need at least"):
        cut_tiles(img, lab, "x", tile=40, test_rows=1, gap_rows=1)


def test_load_refuses_a_missing_file_and_finds_nothing_in_an_empty_folder(tmp_path):
    folder = tmp_path / "he_nuclei"
    folder.mkdir()
    assert find_he_nuclei([tmp_path]) is None
    write_image(folder / "hgsc_nest.png", np.zeros((64, 64, 3), np.uint8))
    write_labels(folder / "hgsc_nest_labels.tif", np.zeros((64, 64), np.int32))
    with pytest.raises(InputFileError, match="missing"):
        load_he_nuclei(folder, tile=16, test_rows=1)
    pool = load_he_nuclei(folder, tile=16, test_rows=1, images=("hgsc_nest",))
    assert (len(pool.pool_images), len(pool.test_images)) == (8, 4)


def test_real_he_nuclei_pool():
    folder = find_he_nuclei(SHARED)
    if folder is None:
        pytest.skip("../shared/data/he_nuclei is not here")
    pool = load_he_nuclei(folder, tile=250, test_rows=1)
    assert (len(pool.pool_images), len(pool.test_images)) == (48, 12)
    assert pool.pool_images[0].shape == (250, 250, 3) and pool.pool_images[0].dtype == np.float32
    nest = sum(
        int(lb.max())
        for lb, s in zip(pool.pool_labels, pool.pool_sources, strict=True)
        if s.image == "hgsc_nest"
    )
    stroma = sum(
        int(lb.max())
        for lb, s in zip(pool.pool_labels, pool.pool_sources, strict=True)
        if s.image != "hgsc_nest"
    )
    assert nest > 2 * stroma > 0  # the dense tumour nest against the sparse stroma
    assert all(s.row == 5 for s in pool.test_sources)
