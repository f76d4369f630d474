"""Thumbnail grid of the project's images: status chips and highlighted, ranked suggestions.

Why: users of comparable tools keep asking "which image next?". The gallery answers at a glance:
every tile shows the image, its name, a status chip (unlabelled grey, in progress amber, labelled
green, segmented blue) and, for images suggested in the latest round, a large rank badge ("#1")
with a coloured border and the scores behind the rank (``u`` = uncertainty, ``r`` =
representativeness).

Records are any objects with the :class:`qsa_gui.core.project.store.ImageRecord` attributes (``id``,
``name``, ``status``, ``split``, ``prediction_path``, ``suggestion``), so the widget has no
dependency on the project module. Thumbnails come from a callable ``image_id -> array | None`` and
are loaded lazily (only for tiles that get painted), off the GUI thread by default, downscaled to
``thumbnail_size`` pixels and cached.

Modules: :mod:`.model` (roles, statuses, list model, filter), :mod:`.thumbnails`,
:mod:`.delegate` (tile painting), :mod:`.widget` (:class:`GalleryWidget`).
"""

from __future__ import annotations

from .delegate import GalleryDelegate, wrap_name
from .model import (
    FILTERS,
    ID_ROLE,
    RANK_ROLE,
    RECORD_ROLE,
    REPRESENTATIVENESS_ROLE,
    SORTS,
    SPLIT_ROLE,
    STATUS_COLOURS,
    STATUS_ROLE,
    SUGGESTION_COLOUR,
    THUMBNAIL_ROLE,
    THUMBNAIL_STATE_ROLE,
    UNCERTAINTY_ROLE,
    GalleryFilterProxy,
    GalleryModel,
    display_status,
    group_key,
    natural_key,
    score_text,
    suggestion_rank,
    tooltip_text,
)
from .thumbnails import array_to_qimage, load_thumbnail, make_thumbnail
from .widget import GalleryWidget

__all__ = [
    "FILTERS", "GalleryDelegate", "GalleryFilterProxy", "GalleryModel", "GalleryWidget", "ID_ROLE",
    "RANK_ROLE", "RECORD_ROLE", "REPRESENTATIVENESS_ROLE", "SORTS", "SPLIT_ROLE", "STATUS_COLOURS",
    "STATUS_ROLE", "SUGGESTION_COLOUR", "THUMBNAIL_ROLE", "THUMBNAIL_STATE_ROLE", "UNCERTAINTY_ROLE",
    "array_to_qimage", "display_status", "group_key", "load_thumbnail", "make_thumbnail", "natural_key",
    "score_text",
    "suggestion_rank", "tooltip_text", "wrap_name",
]  # fmt: skip
