"""QuPath GeoJSON: glands out (one Feature per instance) and annotations in (labels of regions).

Written as QuPath reads it: a FeatureCollection, one Feature per gland with a UUID ``id``,
``properties.objectType`` ("annotation" or "detection"), ``classification`` {name, color [r, g,
b]}, ``measurements`` (area in px and um^2, mean confidence), Polygon / MultiPolygon geometry in
full-resolution (level-0) pixels with a top-left origin, outer rings counter-clockwise and holes
clockwise. A top-level ``qsa`` member records the slide's name and size so a file made for another
slide is refused on import.

Read with every check before anything is used (:func:`read_features`): not JSON, not a
FeatureCollection / list of Features, a geometry other than Polygon / MultiPolygon, coordinates
outside the slide, unclosed or self-intersecting rings, another slide's size: one
:class:`InputFileError` naming the file, the feature and the reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .polygons import Polygon, is_simple, mask_to_polygons, rasterize

GLAND_CLASS = "Gland"
GLAND_COLOR = (0, 170, 90)
OBJECT_TYPES = ("annotation", "detection")
MAX_GEOJSON_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class SlideFeature:
    """One validated feature: its polygons in level-0 pixels, class name and id."""

    id: str
    polygons: list[Polygon]
    class_name: str | None
    object_type: str

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the outer rings."""
        pts = np.vstack([p[0] for p in self.polygons])
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _geometry(polygons: list[Polygon]) -> dict:
    coords = [
        [[[round(float(x), 2), round(float(y), 2)] for x, y in ring] for ring in poly] for poly in polygons
    ]
    if len(coords) == 1:
        return {"type": "Polygon", "coordinates": coords[0]}
    return {"type": "MultiPolygon", "coordinates": coords}


def feature(
    polygons: list[Polygon],
    *,
    area_px: float,
    confidence: float | None = None,
    mpp: float | None = None,
    object_type: str = "detection",
    class_name: str = GLAND_CLASS,
    color: tuple[int, int, int] = GLAND_COLOR,
) -> dict:
    """A QuPath Feature for one object (``area_px`` in level-0 pixels)."""
    measurements: dict[str, float] = {"Area px^2": round(float(area_px), 2)}
    if mpp:
        measurements["Area µm^2"] = round(float(area_px) * mpp * mpp, 2)
    if confidence is not None:
        measurements["Mean confidence"] = round(float(confidence), 4)
    return {
        "type": "Feature",
        "id": str(uuid.uuid4()),
        "geometry": _geometry(polygons),
        "properties": {
            "objectType": object_type,
            "classification": {"name": class_name, "color": list(color)},
            "measurements": measurements,
        },
    }


def label_features(
    labels: np.ndarray,
    *,
    offset: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    confidence: np.ndarray | None = None,
    mpp: float | None = None,
    object_type: str = "detection",
) -> Iterator[dict]:
    """Features of every instance of ``labels`` (a region or crop whose pixel (0, 0) corner sits at
    level-0 ``offset`` (x, y), ``scale`` level-0 px per label px); ``confidence`` is a gland
    probability map of the same shape for the mean-confidence measurement."""
    from scipy import ndimage as ndi

    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        (ys, xs) = sl
        crop = labels[ys.start : ys.stop, xs.start : xs.stop] == k
        origin = (offset[0] + scale * xs.start, offset[1] + scale * ys.start)
        polys = mask_to_polygons(crop, origin, scale)
        if not polys:
            continue
        conf = None
        if confidence is not None:
            conf = float(confidence[ys.start : ys.stop, xs.start : xs.stop][crop].mean())
        yield feature(
            polys, area_px=crop.sum() * scale * scale, confidence=conf, mpp=mpp, object_type=object_type
        )


def write_feature_collection(fh, features: Iterable[dict], slide: dict | None = None) -> int:
    """Stream a FeatureCollection to the text file ``fh`` (one feature a line); returns the count."""
    fh.write('{"type": "FeatureCollection",')
    if slide is not None:
        fh.write(' "qsa": ' + json.dumps(slide) + ",")
    fh.write(' "features": [\n')
    n = 0
    for f in features:
        fh.write((",\n" if n else "") + json.dumps(f, ensure_ascii=False))
        n += 1
    fh.write("\n]}\n")
    return n


# ------------------------------------------------------------------------------------ reading


def _ring(path: Path, where: str, raw: object, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) < 4:
        raise InputFileError(path, f"{where}: a ring needs at least 4 [x, y] positions")
    try:
        ring = np.asarray(raw, np.float64)
    except (TypeError, ValueError):
        raise InputFileError(path, f"{where}: positions must be [x, y] numbers") from None
    if ring.ndim != 2 or ring.shape[1] < 2 or not np.isfinite(ring).all():
        raise InputFileError(path, f"{where}: positions must be [x, y] numbers")
    ring = ring[:, :2]
    if not np.array_equal(ring[0], ring[-1]):
        raise InputFileError(path, f"{where}: ring is not closed (first and last positions differ)")
    h, w = shape
    if ring[:, 0].min() < -1 or ring[:, 1].min() < -1 or ring[:, 0].max() > w + 1 or ring[:, 1].max() > h + 1:
        raise InputFileError(path, f"{where}: coordinates outside the slide ({w} x {h} px)")
    if not is_simple(ring):
        raise InputFileError(path, f"{where}: polygon intersects itself")
    return ring


def _polygons(path: Path, where: str, geom: object, shape: tuple[int, int]) -> list[Polygon]:
    if not isinstance(geom, dict):
        raise InputFileError(path, f"{where}: geometry is missing")
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputFileError(
            path, f"{where}: geometry type {str(kind)[:40]!r} is not Polygon or MultiPolygon"
        )
    polys = [coords] if kind == "Polygon" else coords
    if not isinstance(polys, list) or not polys or not all(isinstance(p, list) and p for p in polys):
        raise InputFileError(path, f"{where}: empty or malformed coordinates")
    return [[_ring(path, f"{where} ring {j}", r, shape) for j, r in enumerate(p)] for p in polys]


def read_features(
    path: str | Path, slide_shape: tuple[int, int], slide_name: str | None = None
) -> list[SlideFeature]:
    """Every Polygon / MultiPolygon feature of a QuPath GeoJSON file, validated (module doc)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_GEOJSON_BYTES:
            raise InputFileError(path, f"GeoJSON file is {size / 1e9:.1f} GB, over the 2 GB limit")
        data = json.loads(path.read_text("utf-8"))
    except InputFileError:
        raise
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFileError(path, f"not a JSON file ({str(e)[:120]})") from None
    except (OSError, RecursionError) as e:
        raise InputFileError(path, f"cannot read ({e})") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        meta, items = data.get("qsa"), data.get("features")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        meta, items = None, [data]
    elif isinstance(data, list):  # QuPath's "export as list of features"
        meta, items = None, data
    else:
        raise InputFileError(
            path, "not GeoJSON: expected a FeatureCollection, a Feature or a list of Features"
        )
    if not isinstance(items, list):
        raise InputFileError(path, "'features' must be a list")
    if isinstance(meta, dict) and "width" in meta and "height" in meta:
        if [meta["height"], meta["width"]] != list(slide_shape):
            raise InputFileError(
                path,
                f"made for a slide of {meta['width']} x {meta['height']} px"
                f"{' (' + str(meta.get('name'))[:80] + ')' if meta.get('name') else ''}, "
                f"not this one ({slide_shape[1]} x {slide_shape[0]} px"
                f"{', ' + slide_name if slide_name else ''})",
            )
    out = []
    for i, f in enumerate(items):
        where = f"feature {i}"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise InputFileError(path, f"{where}: not a GeoJSON Feature")
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            raise InputFileError(path, f"{where}: properties must be an object")
        cls = props.get("classification")
        name = cls.get("name") if isinstance(cls, dict) else None
        otype = props.get("objectType", "annotation")
        polys = _polygons(path, where, f.get("geometry"), slide_shape)
        out.append(
            SlideFeature(str(f.get("id") or i), polys, name if isinstance(name, str) else None, str(otype))
        )
    return out


def region_labels(
    features: list[SlideFeature], box: tuple[int, int, int, int], scale: float, shape: tuple[int, int]
) -> np.ndarray:
    """Instance labels of one region (level-0 ``box`` y0, y1, x0, x1; ``shape`` its pixel size):
    every feature that covers some of its pixel centres becomes an object, 1..N in feature order;
    where features overlap the later one wins."""
    y0, y1, x0, x1 = box
    out = np.zeros(shape, np.int32)
    n = 0
    for f in features:
        fx0, fy0, fx1, fy1 = f.bounds
        if fx1 < x0 or fx0 > x1 or fy1 < y0 or fy0 > y1:
            continue
        local = [
            [np.stack([(r[:, 0] - x0) / scale, (r[:, 1] - y0) / scale], axis=1) for r in p]
            for p in f.polygons
        ]
        mask = rasterize(local, shape)
        if mask.any():
            n += 1
            out[mask] = n
    return out
