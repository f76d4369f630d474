"""What many test modules share: the one tiny-model Settings and small generated projects.

A plain module (importable as ``qsa_testkit`` because pytest puts ``tests/`` on ``sys.path`` for
``tests/conftest.py``), not a conftest: ``tests/gui/conftest.py`` is also named ``conftest``, so
``from conftest import`` would find whichever was imported last.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsa_gui.core.settings import Settings

# The one small-model Settings of the job tests; a test that needs other values says so with
# ``TINY_SETTINGS.updated(...)`` or ``dataclasses.replace`` (for ``None`` values).
TINY_SETTINGS = Settings(
    preset="tiny",
    ensemble_size=2,
    iterations=15,
    ensemble_iterations=10,
    inq_iterations=3,
    batch_size=2,
    patch_size=64,
    tile=128,
)


def demo_truth(n_images: int, size: int, name: str) -> np.ndarray:
    """The generator's instance labels for demo image ``name`` (``gland_03_benign.png``): the
    'expert' of the GUI tests, for a demo written with ``write_demo_project(n_images, size)``."""
    from qsa_gui.core.data.synth import generate_dataset

    index = int(name.split("_")[1])
    return generate_dataset(n_images, seed=0, size=(size, size))[index].labels.astype(np.int32)


def small_image_project(folder: Path, n: int, seed: int):
    """An open Project (the caller closes it) of ``n`` generated 24x32 images, nothing labelled."""
    from qsa_gui.core.data.images import write_image
    from qsa_gui.core.data.synth import generate_dataset
    from qsa_gui.core.project.store import Project

    paths = []
    for k, sample in enumerate(generate_dataset(n, seed=seed, size=(24, 32))):
        paths.append(folder / "src" / f"img{k}.png")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        write_image(paths[-1], sample.image)
    project = Project.create(folder / "proj", name="Glands")
    project.import_images(paths)
    return project
