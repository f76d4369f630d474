"""Named settings presets (Quick / Standard / Paper) and ``KEY=VALUE`` editing of Settings.

Why a registry of plain data: the right knobs depend on the machine (a 2-core laptop wants a
round in minutes, a GPU can afford the published width), and a user should pick one word, not
tune twelve numbers. Each preset only names the fields it sets; everything else keeps the
project's value. The values are data here, so they are easy to retune as training gets faster.

``KEY=VALUE`` parsing takes each value's type from the :class:`Settings` field annotations and
leaves range checks to ``Settings`` itself, so the CLI, the dialog and project.json share one set
of rules. ``none`` sets an optional field to None; ``float`` is also accepted for the bit fields.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .settings import Settings


@dataclass(frozen=True)
class SettingsPreset:
    """A named set of Settings values with a plain description of who it is for."""

    name: str
    title: str
    description: str
    values: Mapping[str, Any]

    def apply(self, settings: Settings | None = None) -> Settings:
        """``settings`` (default: the defaults) with this preset's values on top (validated)."""
        return replace(settings or Settings(), **dict(self.values))

    def matches(self, settings: Settings) -> bool:
        return all(getattr(settings, key) == value for key, value in self.values.items())


# Every preset names the same fields, so switching from one to another leaves nothing behind.
SETTINGS_PRESETS: dict[str, SettingsPreset] = {p.name: p for p in (
    SettingsPreset(
        "quick", "Quick",
        "Quick: for a laptop, minutes per round (half-width model, 3 suggestive FCNs, short training)",
        {"preset": "compact", "ensemble_size": 3, "ensemble_bits": 7, "seg_models": 1, "seg_bits": 7,
         "iterations": 200, "ensemble_iterations": 80, "inq_iterations": 20, "batch_size": 4,
         "patch_size": 128, "tile": 256, "overlap": 32},
    ),
    SettingsPreset(
        "standard", "Standard",
        "Standard: a CPU-friendly width with the paper's proportions (5 suggestive FCNs, 7 bits)",
        {"preset": "small", "ensemble_size": 5, "ensemble_bits": 7, "seg_models": 1, "seg_bits": 7,
         "iterations": 300, "ensemble_iterations": None, "inq_iterations": 40, "batch_size": 8,
         "patch_size": 128, "tile": 256, "overlap": 32},
    ),
    SettingsPreset(
        "paper", "Paper",
        "Paper: the published width (up to 1024 channels), 5 + 5 FCNs at 7 bits, 448 px patches; "
        "needs a GPU",
        {"preset": "paper", "ensemble_size": 5, "ensemble_bits": 7, "seg_models": 5, "seg_bits": 7,
         "iterations": 500, "ensemble_iterations": None, "inq_iterations": 50, "batch_size": 8,
         "patch_size": 448, "tile": 512, "overlap": 32},
    ),
)}  # fmt: skip


def get_settings_preset(name: str) -> SettingsPreset:
    """The preset called ``name`` (case ignored); a ValueError lists the choices."""
    preset = SETTINGS_PRESETS.get(str(name).strip().lower())
    if preset is None:
        raise ValueError(f"unknown settings preset {name!r}; choose one of {', '.join(SETTINGS_PRESETS)}")
    return preset


def matching_preset(settings: Settings) -> SettingsPreset | None:
    """The first preset whose every value ``settings`` has, or None (custom settings)."""
    return next((p for p in SETTINGS_PRESETS.values() if p.matches(settings)), None)


# ---------------------------------------------------------------------------- KEY=VALUE parsing

BIT_FIELDS = ("ensemble_bits", "seg_bits")


def field_types() -> dict[str, tuple[type, bool]]:
    """Settings field -> (base type, None allowed), from the dataclass annotations."""
    hints = typing.get_type_hints(Settings)
    out: dict[str, tuple[type, bool]] = {}
    for f in fields(Settings):
        hint = hints[f.name]
        union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        args = typing.get_args(hint) if union else ()
        if args:
            base = next(a for a in args if a is not type(None))
            out[f.name] = (base, type(None) in args)
        else:
            out[f.name] = (hint, False)
    return out


# "auto" means automatic (None) for every optional setting but these, where it is a real value
# (Ray's "connect to the running cluster")
KEEPS_AUTO = frozenset({"ray_address"})


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def parse_value(key: str, text: str) -> Any:
    """The typed value of ``KEY=text``; a ValueError names ``settings.KEY``."""
    types_ = field_types()
    if key not in types_:
        raise ValueError(f"unknown setting {key!r}; known: {', '.join(types_)}")
    base, optional = types_[key]
    raw = text.strip()
    clears = ("none", "null", "") if key in KEEPS_AUTO else ("none", "null", "auto", "")
    if (
        optional
        and raw.lower() in clears
        or key in BIT_FIELDS
        and raw.lower() == "float"
    ):
        return None
    if base is bool:  # ensemble_warm_start=false
        word = raw.lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(f"settings.{key} must be true or false, got {raw!r}")
        return word in _TRUE
    try:
        if base is int:
            return int(raw)
        if base is float:
            return float(raw)
    except ValueError:
        what = {int: "an integer", float: "a number"}[base]
        none = " or none" if optional else ""
        raise ValueError(f"settings.{key} must be {what}{none}, got {raw!r}") from None
    return raw


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["iterations=100", "device=none"]`` -> ``{"iterations": 100, "device": None}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        out[key] = parse_value(key, value)
    return out


def apply_changes(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    """``settings`` with ``changes`` (None included); Settings' own checks name a bad field."""
    return replace(settings, **dict(changes))


def describe_value(value: Any) -> str:
    """How a value reads in ``qsa settings`` (and parses back): None as ``none``."""
    return "none" if value is None else str(value)


__all__ = [
    "SETTINGS_PRESETS",
    "SettingsPreset",
    "apply_changes",
    "describe_value",
    "field_types",
    "get_settings_preset",
    "matching_preset",
    "parse_assignments",
    "parse_value",
]
