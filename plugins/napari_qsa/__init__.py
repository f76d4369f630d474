"""napari plugin of qsa-gui: the annotation assistant as a dock widget, plus a reader for project
folders and histology images, a labels writer and generated-gland sample data.

Discovered through the npe2 manifest ``napari.yaml`` (entry point ``napari.manifest``); every
contribution is imported lazily by napari, so importing this package costs nothing.
"""

from __future__ import annotations

__all__: list[str] = []
