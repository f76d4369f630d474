"""Tiny runs of the benchmark scripts, so they cannot rot (the real runs live in benchmarks/)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_label_efficiency.py"


def test_label_efficiency_smoke(tmp_path):
    out = tmp_path / "le.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    strategies = {r["strategy"] for r in data["rows"]}
    assert strategies == {"random", "qsa"}
    assert {r["segmenter"] for r in data["rows"]} == {"float", "7bit"}
    assert all(0.0 <= r["object_f1"] <= 1.0 for r in data["rows"])
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_speed_memory_smoke(tmp_path):
    out = tmp_path / "sm.json"
    script = ROOT / "benchmarks" / "bench_speed_memory.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["scoring_vs_plain_forward"]["ratio"] > 0
    assert data["inq_vs_float_training_step"]["ratio"] > 0
    ratios = data["sizes"]["compact"]["ratio_by_bits"]
    assert float(ratios["5"]) > float(ratios["7"]) > 1.0  # fewer bits, smaller file
