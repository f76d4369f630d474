"""The pixel prefetch cache: background reads, never a stale image or labels version."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import small_image_project

from qsa_gui.components.pixels import PixelCache, pixel_key, read_pixels
from qsa_gui.components.session import Session
from qsa_gui.core.errors import InputFileError


@pytest.fixture
def project(tmp_path: Path):
    p = small_image_project(tmp_path, 4, seed=5)
    yield p
    p.close()


def test_prefetched_pixels_are_read_on_a_worker_thread_and_used_once(project) -> None:
    ids = [r.id for r in project.images]
    cache = PixelCache(capacity=2)
    threads: list[str] = []
    original = project.load_image

    def spy(image_id: str):
        threads.append(threading.current_thread().name)
        return original(image_id)

    project.load_image = spy  # type: ignore[method-assign]
    cache.prefetch(project, ids[1:])  # three asked, capacity two
    assert cache.wait_idle(10.0)
    assert sorted(cache.cached_ids) == sorted(ids[1:3])
    assert threads and all(name.startswith("qsa-pixels") for name in threads)
    got = cache.get(project, ids[1])
    assert cache.hits == 1 and cache.misses == 0
    expected = read_pixels(project, pixel_key(project.image(ids[1])))
    np.testing.assert_array_equal(got.image, expected.image)
    assert got.image.dtype == np.uint8 and got.image.shape == (24, 32, 3)
    assert ids[1] not in cache.cached_ids  # handed out once: the labels array is the caller's
    cache.get(project, ids[1])
    assert cache.misses == 1
    cache.clear()


def test_a_save_after_the_prefetch_makes_the_cache_read_again(project) -> None:
    image_id = project.images[1].id
    cache = PixelCache()
    cache.prefetch(project, [image_id])
    assert cache.wait_idle(10.0) and cache.cached_ids == [image_id]
    labels = np.zeros((24, 32), np.int32)
    labels[2:9, 3:12] = 4
    project.save_labels(image_id, labels)  # a new label file: the record's key changes
    got = cache.get(project, image_id)
    assert cache.misses == 1 and cache.hits == 0
    np.testing.assert_array_equal(got.labels, labels)
    cache.clear()


def test_a_failed_prefetch_is_reported_by_the_direct_read(project) -> None:
    image_id = project.images[2].id
    project.image_path(image_id).unlink()
    cache = PixelCache()
    cache.prefetch(project, [image_id])
    cache.wait_idle(10.0)
    with pytest.raises(InputFileError):
        cache.get(project, image_id)
    cache.clear()


def test_session_prefetches_the_neighbours_and_switches_from_the_cache(project) -> None:
    s = Session()
    labels: dict[str, np.ndarray | None] = {"now": None}
    s.labels_source = lambda: labels["now"]
    s.set_project(project)
    ids = [r.id for r in project.images]
    view = s.load_view(ids[0])
    labels["now"] = view.labels
    assert s.prefetch(ids) == [ids[1], ids[-1]]  # no suggestions yet: next and previous
    assert s.pixels.wait_idle(10.0)
    labels["now"][1:4, 1:4] = 7  # a stroke on image 0, not saved yet
    s.labels_edited()
    view = s.load_view(ids[1])  # the switch saves image 0 first, then shows 1 from the cache
    assert s.pixels.hits == 1
    assert project.load_labels(ids[0])[2, 2] == 7
    assert view.image.dtype == np.uint8 and view.labels.dtype == np.int32
    s.take_project()
