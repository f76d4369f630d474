"""The package list, the one thing pyproject.toml cannot say: the top-level ``resources/`` folder
installs as ``qsa_gui._resources`` (``packages.find`` cannot rename a folder). Everything else is in
pyproject.toml; new sub-packages of ``qsa_gui`` and ``napari_qsa`` are found without editing this.
"""

from setuptools import find_namespace_packages, setup


def _find(where: str, top: str) -> list[str]:
    return find_namespace_packages(where, include=[top, f"{top}.*"], exclude=["*__pycache__*"])


PACKAGES = [
    *_find(".", "qsa_gui"),
    *_find("plugins", "napari_qsa"),
    "qsa_gui._resources",
    *(f"qsa_gui._resources.{p}" for p in find_namespace_packages("resources", exclude=["*__pycache__*"])),
]

setup(packages=PACKAGES)
