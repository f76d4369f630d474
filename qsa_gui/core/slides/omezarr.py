"""Instance labels of a whole slide as an OME-Zarr label image (OME-NGFF 0.4), written strip by strip.

Layout (zarr format 2, ``/`` chunk separator, as NGFF 0.4 requires)::

    <name>.ome.zarr/            root group: the label image itself
        .zattrs                 multiscales (axes y, x; a scale per level) + image-label
        0/  1/  2/ ...          levels, each half the size of the one before (nearest: ids stay ids)

Why the labels are the root image: the slide's pixels stay in the slide file (tens of GB); a viewer
(napari-ome-zarr, QuPath via Bio-Formats) opens the labels as their own multiscale image and the
scales place them on the slide. Level 0 has the segmentation's resolution (``scale`` level-0 slide
pixels per label pixel); axes are in micrometres when the slide's pixel size is known, else in
slide pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NGFF_VERSION = "0.4"
CHUNK = 1024


def _create(group, name: str, shape: tuple[int, int], dtype: np.dtype):
    import numcodecs

    return group.create_array(
        name,
        shape=shape,
        chunks=(min(CHUNK, shape[0]), min(CHUNK, shape[1])),
        dtype=dtype,
        compressors=numcodecs.Zlib(level=1),
        fill_value=0,
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )


def write_label_pyramid(
    labels: np.ndarray,
    out: str | Path,
    *,
    scale: float = 1.0,
    mpp: float | None = None,
    name: str = "glands",
    min_side: int = 256,
    rows: int = CHUNK,
) -> int:
    """Write ``labels`` (an (H, W) integer array, typically a ``np.memmap``: read ``rows`` at a time)
    as an NGFF 0.4 multiscale label image at ``out``; returns the number of levels."""
    import zarr

    out = Path(out)
    h, w = labels.shape
    root = zarr.open_group(str(out), mode="w", zarr_format=2)
    dtype = np.dtype(labels.dtype)
    shapes = [(h, w)]
    while min(shapes[-1]) // 2 >= min_side:
        shapes.append((shapes[-1][0] // 2, shapes[-1][1] // 2))
    arrays = [_create(root, str(k), s, dtype) for k, s in enumerate(shapes)]
    step = max(2 ** (len(shapes) - 1), rows - rows % 2 ** (len(shapes) - 1))
    for y in range(0, h, step):
        block = np.asarray(labels[y : min(h, y + step)])
        arrays[0][y : y + block.shape[0]] = block
        for k in range(1, len(shapes)):
            f = 2**k
            ly0 = -(-y // f)
            part = block[(ly0 * f - y) :: f, ::f][:, : shapes[k][1]]
            part = part[: max(0, shapes[k][0] - ly0)]
            if part.size:
                arrays[k][ly0 : ly0 + part.shape[0]] = part
    unit = "micrometer" if mpp else None
    unit_scale = (mpp or 1.0) * scale
    axes = [{"name": a, "type": "space", **({"unit": unit} if unit else {})} for a in ("y", "x")]
    datasets = [
        {
            "path": str(k),
            "coordinateTransformations": [{"type": "scale", "scale": [unit_scale * 2**k, unit_scale * 2**k]}],
        }
        for k in range(len(shapes))
    ]
    root.attrs.update(
        {
            "multiscales": [{"version": NGFF_VERSION, "name": name, "axes": axes, "datasets": datasets}],
            "image-label": {"version": NGFF_VERSION, "source": {"image": "../../"}},
        }
    )
    return len(shapes)


def read_label_level(path: str | Path, level: int = 0) -> np.ndarray:
    """One level of a label pyramid written here (whole: for tests and small slides)."""
    import zarr

    return np.asarray(zarr.open_group(str(path), mode="r")[str(level)][...])
