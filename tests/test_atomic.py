import json
import os

import pytest

from qsa_gui.core.atomic import atomic_write_bytes, atomic_write_json


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "f.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2, "ü": "ß"})
    assert json.loads(p.read_text("utf-8")) == {"x": 2, "ü": "ß"}
    assert [f.name for f in p.parent.iterdir()] == ["f.json"]  # no temp files left


def test_failed_write_keeps_previous_content(tmp_path, monkeypatch):
    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"old")

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["f.bin"]
