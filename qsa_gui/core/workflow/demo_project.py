"""A demo project on disk: generated glands with their ground truth, for the GUI and the CLI."""

from __future__ import annotations

from pathlib import Path

from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.jobs import Job, Progress


def write_demo_project(
    folder: str | Path, n_images: int = 24, size: int = 256, seed: int = 0, *, real_samples: bool = False
) -> Path:
    """A ready project of generated glands for a new user: pool images plus a labelled test set.

    ``real_samples``: also add the small real H&E images shipped in ``resources/samples`` as
    unlabelled pool images, so the GUI's demo shows real tissue to paint, not only generated glands
    (the CLI's demo loop needs ground truth for every pool image, so it leaves them out).
    The project gets the ``quick`` settings preset: a new user's first Retrain should take seconds
    on a laptop, not minutes (``qsa settings`` or the Settings dialog change it).
    """
    from qsa_gui.core.data.images import write_image, write_labels
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.settings_presets import get_settings_preset

    folder = Path(folder)
    data = generate_dataset(n_images, seed=seed, size=(size, size))
    src = folder.parent / f".{folder.name}-sources"
    src.mkdir(parents=True, exist_ok=True)
    pool_paths, test_paths, test_labels = [], {}, []
    n_test = max(2, n_images // 6)
    for i, sample in enumerate(data):
        kind = "test" if i >= n_images - n_test else "gland"
        path = src / f"{kind}_{i:02d}_{sample.grade}.png"
        write_image(path, sample.image)
        if kind == "test":
            lab = src / f"{kind}_{i:02d}_labels.tif"
            write_labels(lab, sample.labels)
            test_paths[str(path)] = str(lab)
            test_labels.append(lab)
        else:
            pool_paths.append(path)
    quick = get_settings_preset("quick").apply()
    project = Project.create(folder, name="Generated glands (demo)", settings=quick.to_dict())
    try:
        project.import_images(pool_paths)
        project.import_images(list(test_paths), split="test", labels=test_paths)
        if real_samples:
            from qsa_gui.resources import sample_images

            project.import_images(sample_images())
    finally:
        project.close()
    import shutil

    shutil.rmtree(src, ignore_errors=True)
    return folder


def demo_project_job(folder: str | Path, n_images: int, size: int) -> Job[Path]:
    """:func:`write_demo_project` as a job, so a GUI can run it off its event-loop thread."""
    yield Progress("generating demo glands", 0.0, f"{n_images} images of {size} px")
    path = write_demo_project(folder, n_images=n_images, size=size, real_samples=True)
    yield Progress("generating demo glands", 1.0)
    return path


__all__ = ["demo_project_job", "write_demo_project"]
