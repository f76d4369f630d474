"""Parse and validate project.json before any of it is used.

A manifest that does not fit is refused with a ProjectError naming the file and the field, and
is never rewritten (a project that refuses to open keeps its data for a person to repair).
Duplicate keys are refused too: ``json`` would silently keep the last one, so a second
``"images": []`` would open as an empty project and the next save would make that permanent.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ProjectError
from .files import ID_RE
from .records import (
    APP_NAME,
    IMAGE_FIELDS,
    MODEL_FIELDS,
    ROUND_FIELDS,
    SCHEMA_VERSION,
    SLIDE_FIELDS,
    SPLITS,
    STATUSES,
    ImageRecord,
    ModelVersion,
    SlideRecord,
    SuggestionRound,
)

T = TypeVar("T")
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d{1,3})?|mps)$")


class FieldError(ValueError):
    """A manifest value that does not fit; ``field`` says where (e.g. ``status``)."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(f"{field}: {msg}")
        self.field = field


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise FieldError(key, "appears twice in one object (a duplicated key would drop data)")
        out[key] = value
    return out


def loads_strict(text: str) -> Any:
    """``json.loads`` refusing duplicate keys (FieldError) and NaN/Infinity (not JSON)."""

    def no_constant(name: str) -> Any:
        raise FieldError(name, "is not a JSON number")

    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=no_constant)


def _expect(cond: bool, field: str, msg: str) -> None:
    if not cond:
        raise FieldError(field, msg)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _opt(v: Any, typ: type) -> bool:
    return v is None or isinstance(v, typ)


def _label_versions(value: Any) -> list[dict]:
    _expect(isinstance(value, list), "label_versions", "must be a list")
    last = 0
    for k, v in enumerate(value):
        where = f"label_versions[{k}]"
        _expect(isinstance(v, dict), where, "must be an object")
        num = v.get("version")
        _expect(_is_int(num) and num > last, f"{where}.version", "must be an increasing whole number >= 1")
        last = num
        _expect(isinstance(v.get("path"), str), f"{where}.path", "must be a string")
        for key in ("by", "at"):
            _expect(_opt(v.get(key), str), f"{where}.{key}", "must be a string or null")
        objects = v.get("objects")
        _expect(objects is None or (_is_int(objects) and objects >= 0), f"{where}.objects", "must be >= 0")
        _expect(isinstance(v.get("done", False), bool), f"{where}.done", "must be true or false")
        src = v.get("restored_from")
        _expect(src is None or _is_int(src), f"{where}.restored_from", "must be a version number or null")
    return value


def image_from_dict(d: Any) -> ImageRecord:
    _expect(isinstance(d, dict), "image", "not an object")
    for key in ("id", "name", "path", "shape"):
        _expect(key in d, key, "is missing")
    kwargs = {k: v for k, v in d.items() if k in IMAGE_FIELDS}
    shape = kwargs["shape"]
    _expect(
        isinstance(shape, list) and len(shape) == 2 and all(_is_int(s) and 0 < s < 2**31 for s in shape),
        "shape",
        "must be [H, W]",
    )
    kwargs["shape"] = (int(shape[0]), int(shape[1]))
    for key in ("id", "name", "path", "sha256"):
        _expect(isinstance(kwargs.get(key, ""), str), key, "must be a string")
    _expect(bool(ID_RE.match(kwargs["id"])), "id", f"{kwargs['id']!r} is not a valid image id")
    for key in ("labelled_by", "labelled_at", "label_path", "prediction_path", "prediction_model"):
        _expect(_opt(kwargs.get(key), str), key, "must be a string or null")
    _expect(
        kwargs.get("status", STATUSES[0]) in STATUSES, "status", f"unknown status {kwargs.get('status')!r}"
    )
    _expect(kwargs.get("split", "pool") in SPLITS, "split", f"unknown split {kwargs.get('split')!r}")
    _expect(isinstance(kwargs.get("copied", True), bool), "copied", "must be true or false")
    _expect(_opt(kwargs.get("suggestion"), dict), "suggestion", "must be an object or null")
    if kwargs.get("region") is not None:
        _region(kwargs["region"])
    versions = _label_versions(kwargs.get("label_versions", []))
    if versions:
        _expect(
            kwargs.get("label_path") == versions[-1]["path"], "label_path", "is not the latest label version"
        )
    return ImageRecord(**kwargs)


def _region(value: Any) -> None:
    _expect(isinstance(value, dict), "region", "must be an object or null")
    _expect(isinstance(value.get("slide"), str), "region.slide", "must be a slide id")
    box = value.get("box")
    _expect(
        isinstance(box, list) and len(box) == 4 and all(_is_int(v) and 0 <= v < 2**31 for v in box),
        "region.box",
        "must be [y0, y1, x0, x1] in level-0 pixels",
    )
    _expect(box[0] < box[1] and box[2] < box[3], "region.box", "must have y0 < y1 and x0 < x1")
    t = value.get("tissue", 1.0)
    _expect(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1, "region.tissue", "0..1")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pair(value: Any, field: str) -> tuple[int, int]:
    _expect(
        isinstance(value, list) and len(value) == 2 and all(_is_int(v) and 0 < v < 2**31 for v in value),
        field,
        "must be [H, W]",
    )
    return int(value[0]), int(value[1])


def _number(value: Any, field: str, lo: float, hi: float, *, null: bool = False) -> None:
    if value is None and null:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
    _expect(ok, field, f"must be a number in {lo:g}..{hi:g}" + (" or null" if null else ""))


def slide_from_dict(d: Any) -> SlideRecord:
    _expect(isinstance(d, dict), "slide", "not an object")
    for key in ("id", "name", "path", "shape"):
        _expect(key in d, key, "is missing")
    kwargs = {k: v for k, v in d.items() if k in SLIDE_FIELDS}
    kwargs["shape"] = _pair(kwargs["shape"], "shape")
    kwargs["region_size"] = _pair(kwargs.get("region_size", [522, 775]), "region_size")
    for key in ("id", "name", "path", "format", "sha256", "added"):
        _expect(isinstance(kwargs.get(key, ""), str), key, "must be a string")
    _expect(bool(ID_RE.match(kwargs["id"])), "id", f"{kwargs['id']!r} is not a valid slide id")
    _number(kwargs.get("mpp"), "mpp", 0.001, 1000, null=True)
    _number(kwargs.get("objective_power"), "objective_power", 0.1, 1000, null=True)
    _number(kwargs.get("magnification", 20.0), "magnification", 0.1, 1000)
    _number(kwargs.get("scale", 1.0), "scale", 0.001, 10000)
    _number(kwargs.get("min_tissue", 0.25), "min_tissue", 0, 1)
    _expect(isinstance(kwargs.get("copied", True), bool), "copied", "must be true or false")
    notes = kwargs.get("notes", [])
    _expect(isinstance(notes, list) and all(isinstance(n, str) for n in notes), "notes", "must be strings")
    rings = kwargs.get("tissue", [])
    _expect(
        isinstance(rings, list)
        and all(
            isinstance(r, list)
            and all(isinstance(p, list) and len(p) == 2 and all(_is_num(v) for v in p) for p in r)
            for r in rings
        ),
        "tissue",
        "must be a list of [x, y] rings",
    )
    return SlideRecord(**kwargs)


def round_from_dict(d: Any) -> SuggestionRound:
    _expect(isinstance(d, dict), "round", "not an object")
    kwargs = {k: v for k, v in d.items() if k in ROUND_FIELDS}
    _expect(_is_int(kwargs.get("index")), "index", "must be an integer")
    ids = kwargs.get("image_ids", [])
    _expect(isinstance(ids, list) and all(isinstance(i, str) for i in ids), "image_ids", "must be strings")
    for key in ("scores", "settings"):
        _expect(isinstance(kwargs.get(key, {}), dict), key, "must be an object")
    for key in ("created", "strategy", "model_key"):
        _expect(isinstance(kwargs.get(key, ""), str), key, "must be a string")
    nb = kwargs.get("n_labelled_before")
    _expect(nb is None or (_is_int(nb) and nb >= 0), "n_labelled_before", "must be a count >= 0 or null")
    return SuggestionRound(**kwargs)


def model_from_dict(d: Any) -> ModelVersion:
    _expect(isinstance(d, dict), "model", "not an object")
    for key in ("version", "path"):
        _expect(isinstance(d.get(key), str), key, "must be a string")
    kwargs = {k: v for k, v in d.items() if k in MODEL_FIELDS}
    version = kwargs["version"]
    _expect(
        0 < len(version) <= 200 and version.isprintable(), "version", "must be 1-200 printable characters"
    )
    _expect(isinstance(kwargs.get("metrics", {}), dict), "metrics", "must be an object")
    bits = kwargs.get("bits")
    _expect(bits is None or (_is_int(bits) and 1 <= bits <= 32), "bits", "must be 1..32 or null")
    n = kwargs.get("n_labelled", 0)
    _expect(_is_int(n) and n >= 0, "n_labelled", "must be a count >= 0")
    _expect(isinstance(kwargs.get("accepted", True), bool), "accepted", "must be true or false")
    for key in ("created", "kind", "reason"):
        _expect(isinstance(kwargs.get(key, ""), str), key, "must be a string")
    _expect(_opt(kwargs.get("parent"), str), "parent", "must be a string or null")
    ri = kwargs.get("round_index")
    _expect(ri is None or _is_int(ri), "round_index", "must be an integer or null")
    return ModelVersion(**kwargs)


@dataclass
class Manifest:
    """A validated project.json (paths not yet checked against the folder: see store)."""

    name: str | None
    created: str
    settings: dict
    next_image_number: int
    images: list[ImageRecord]
    rounds: list[SuggestionRound]
    models: list[ModelVersion]
    current_model: str | None
    slides: list[SlideRecord]


def _part(path: Path, where: str, fn: Callable[[Any], T], value: Any) -> T:
    try:
        return fn(value)
    except (ValueError, TypeError, KeyError) as e:
        raise ProjectError(f"{path}: {where} is malformed ({e})") from None


def parse_manifest(path: Path, raw: bytes) -> Manifest:
    """Decode, parse and validate the bytes of ``path``; any misfit is a ProjectError."""
    if not raw.strip():
        raise ProjectError(f"{path}: project.json is empty (truncated by a crash?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{path}: project.json is not UTF-8 text (corrupt file)") from None
    try:
        data = loads_strict(text)
    except json.JSONDecodeError as e:
        raise ProjectError(
            f"{path}: project.json is corrupt or truncated ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    except FieldError as e:
        raise ProjectError(f"{path}: project.json is invalid: key {e}") from None
    except RecursionError:
        raise ProjectError(f"{path}: project.json is nested too deeply to be a project manifest") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: project.json is not a JSON object")
    if data.get("app") != APP_NAME:
        raise ProjectError(f"{path}: not a qsa-gui project (app = {str(data.get('app'))[:80]!r})")
    schema = data.get("schema_version")
    if not _is_int(schema) or schema < 1:
        raise ProjectError(f"{path}: project.json has an invalid schema_version ({str(schema)[:40]})")
    if schema > SCHEMA_VERSION:
        raise ProjectError(
            f"{path}: project made by a newer version of qsa-gui (schema {schema} > {SCHEMA_VERSION}); "
            "update qsa-gui to open it"
        )
    kinds = (("images", list), ("rounds", list), ("models", list), ("settings", dict), ("slides", list))
    for key, typ in kinds:
        if not isinstance(data.get(key, typ()), typ):
            raise ProjectError(f"{path}: '{key}' must be a JSON {typ.__name__}")
    for key in ("name", "created"):
        if not isinstance(data.get(key, ""), str):
            raise ProjectError(f"{path}: '{key}' must be a string")
    nxt = data.get("next_image_number", 1)
    if not _is_int(nxt) or not 1 <= nxt < 10**9:
        raise ProjectError(f"{path}: 'next_image_number' must be a whole number from 1 to 10**9")
    current = data.get("current_model")
    if current is not None and not isinstance(current, str):
        raise ProjectError(f"{path}: 'current_model' must be a string or null")
    images = [_part(path, f"images[{i}]", image_from_dict, d) for i, d in enumerate(data.get("images", []))]
    rounds = [_part(path, f"rounds[{i}]", round_from_dict, d) for i, d in enumerate(data.get("rounds", []))]
    models = [_part(path, f"models[{i}]", model_from_dict, d) for i, d in enumerate(data.get("models", []))]
    slides = [_part(path, f"slides[{i}]", slide_from_dict, d) for i, d in enumerate(data.get("slides", []))]
    _check_references(path, images, rounds, models, current)
    _check_regions(path, images, slides)
    return Manifest(
        name=data.get("name"),
        created=data.get("created", ""),
        settings=data.get("settings", {}),
        next_image_number=nxt,
        images=images,
        rounds=rounds,
        models=models,
        current_model=current,
        slides=slides,
    )


def _check_regions(path: Path, images: list[ImageRecord], slides: list[SlideRecord]) -> None:
    """Slide ids unique; every region names a known slide and lies inside it."""
    by_id = {s.id: s for s in slides}
    if len(by_id) != len(slides):
        raise ProjectError(f"{path}: duplicate slide ids in project.json")
    if by_id.keys() & {r.id for r in images}:
        raise ProjectError(f"{path}: a slide id is also an image id")
    for rec in images:
        if rec.region is None:
            continue
        slide = by_id.get(rec.region["slide"])
        if slide is None:
            shown = rec.region["slide"][:80]
            raise ProjectError(f"{path}: image {rec.id} is a region of unknown slide {shown!r}")
        y0, y1, x0, x1 = rec.region["box"]
        if y1 > slide.shape[0] or x1 > slide.shape[1]:
            raise ProjectError(f"{path}: region {rec.id} lies outside slide {slide.id} ({slide.shape})")


def _check_references(
    path: Path,
    images: list[ImageRecord],
    rounds: list[SuggestionRound],
    models: list[ModelVersion],
    current: str | None,
) -> None:
    ids = [r.id for r in images]
    if len(set(ids)) != len(ids):
        raise ProjectError(f"{path}: duplicate image ids in project.json")
    versions = [m.version for m in models]
    if len(set(versions)) != len(versions):
        raise ProjectError(f"{path}: duplicate model versions in project.json")
    if current is not None and current not in versions:
        raise ProjectError(f"{path}: current_model {current[:80]!r} is not one of the recorded models")
    indices = [r.index for r in rounds]
    if len(set(indices)) != len(indices):
        raise ProjectError(f"{path}: duplicate round indices in project.json")
    known = set(ids)
    for r in rounds:
        unknown = [i for i in r.image_ids if i not in known]
        if unknown:
            raise ProjectError(f"{path}: round {r.index} names unknown images {unknown[:3]}")


def checked_settings(manifest_path: Path, settings: Any, cls: type[T]) -> T:
    """``cls.from_dict(settings)`` (Settings validates each field itself), with a bad value reported
    as a ProjectError naming project.json and the field instead of an internal error. A CUDA or MPS
    device this machine lacks is refused here too, but only where a job runs (torch is loaded):
    ``qsa status`` stays torch-free and works on a project made on a GPU machine."""
    if not isinstance(settings, dict):
        raise ProjectError(f"{manifest_path}: settings must be a JSON object")
    try:
        checked = cls.from_dict(settings)  # type: ignore[attr-defined]
        if "torch" in sys.modules and hasattr(checked, "check_device"):
            checked.check_device()
    except (ValueError, TypeError, RecursionError) as e:
        raise ProjectError(f"{manifest_path}: {str(e)[:300]}") from None
    return checked
