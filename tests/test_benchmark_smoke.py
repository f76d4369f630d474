"""Tiny runs of the benchmark scripts, so they cannot rot (the real runs live in benchmarks/)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_label_efficiency_merges_per_seed_runs(tmp_path):
    """Seeds run as separate processes combine into one summary; later files win on overlap."""
    rows = []
    for seed in (0, 1):
        for rnd, f1 in ((1, 0.5), (2, 0.7 + 0.1 * seed)):
            rows.append(
                dict(
                    strategy="qsa",
                    segmenter="7bit",
                    round=rnd,
                    seed=seed,
                    test_set="test",
                    fraction=0.1 * rnd,
                    n_labelled=rnd,
                    object_f1=f1,
                    object_dice=f1,
                    object_hausdorff=10.0,
                    pixel_dice=f1,
                    seconds=1.0,
                    mean_uncertainty=0.01,
                )
            )
    meta = {"dataset": "glands", "seeds": [0], "seconds": 5.0, "n_pool": 10, "n_test": 2}
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.json"
    a.write_text(json.dumps({"meta": meta, "rows": rows[:2] + [dict(rows[3], object_f1=0.0)]}))
    b.write_text(json.dumps({"meta": dict(meta, seeds=[1]), "rows": rows[2:]}))
    _run("bench_label_efficiency.py", "--merge", str(a), str(b), "--out", str(out))
    data = json.loads(out.read_text())
    assert data["meta"]["seeds"] == [0, 1] and data["meta"]["seconds"] == 10.0
    last = next(e for e in data["summary"] if e["round"] == 2)
    assert abs(last["object_f1"] - 0.75) < 1e-9  # (0.7 + 0.8) / 2: file b replaced the 0.0 row
    assert abs(last["object_f1_std"] - 0.05) < 1e-9
    assert out.with_suffix(".png").is_file()


def test_quantization_smoke(tmp_path):
    out = tmp_path / "q.json"
    _run("bench_quantization.py", "--smoke", "--out", str(out))
    data = json.loads(out.read_text())
    assert [e["ensemble"] for e in data["ensemble"]] == ["7bit", "float"]
    assert [e["segmenter"] for e in data["segmentation"]] == ["7bit", "float", "dorefa", "twn"]
    for e in data["ensemble"]:
        assert 0.0 <= e["object_f1_last"] <= 1.0
        assert e["mean_uncertainty"] > 0.0  # the ensemble's members disagree somewhere
    assert out.with_suffix(".png").stat().st_size > 10_000
    # a DoReFa-Net ensemble added to the same file: the earlier rows are kept
    _run("bench_quantization.py", "--smoke", "--out", str(out), "--ensembles", "dorefa", "--merge")
    merged = json.loads(out.read_text())
    assert [e["ensemble"] for e in merged["ensemble"]] == ["7bit", "float", "dorefa"]
    assert len(merged["rows"]) == len(data["rows"]) + 2  # its two rounds, 7-bit segmentation FCN


def test_large_image_smoke(tmp_path):
    out = tmp_path / "l.json"
    _run("bench_large_image.py", "--smoke", "--out", str(out))
    data = json.loads(out.read_text())
    for path in ("strips", "whole"):
        assert data[path]["peak_mb"] > data[path]["increase_mb"] > 0
    assert data["meets_target"] is True


def test_qsa_round_smoke(tmp_path):
    out = tmp_path / "r.json"
    _run("bench_qsa_round.py", "--smoke", "--device", "cpu", "--out", str(out))
    data = json.loads(out.read_text())
    assert data["n_scored"] == 5 and data["n_picked"] == 1
    assert data["round_seconds"] >= data["scoring_seconds"] > 0
    assert data["training_seconds"] > 0


@pytest.mark.slow
def test_protocol_per_seed_files_merge_into_intervals_and_aulc(tmp_path):
    """Each (strategy, seed) is its own file; a rerun skips them; the report pairs seeds."""
    folder = tmp_path / "glands"
    args = ["--dataset", "glands", "--budget", "smoke", "--n-pool", "8", "--n-test", "2", "--size", "64"]
    args += ["--fractions", "0.1,0.5", "--seeds", "0", "1", "--results-dir", str(folder)]
    _run("bench_label_efficiency.py", *args, "--strategies", "random,stratified,full")
    names = sorted(p.name for p in folder.glob("*-seed*.json"))
    assert names == [f"{s}-seed{n}.json" for s in ("full", "random", "stratified") for n in (0, 1)]
    metas = {p.name: json.loads(p.read_text())["meta"] for p in folder.glob("*-seed*.json")}
    assert metas["random-seed0.json"]["initial_indices"] == metas["stratified-seed0.json"]["initial_indices"]
    again = _run("bench_label_efficiency.py", *args, "--strategies", "random")
    assert "random-seed1.json: on disk, skipped" in again.stdout
    summary = json.loads((folder / "summary.json").read_text())["summary"]["7bit"]
    diff = next(e for e in summary["per_round"] if e["strategy"] == "stratified" and e["round"] == 2)
    assert diff["vs_random"]["n"] == 2 and 0 <= diff["vs_random"]["wins"] <= 2
    assert summary["aulc"]["random"]["n"] == 2 and "vs_random" in summary["aulc"]["stratified"]
    assert summary["reference_100"]["n"] == 2
    assert (folder / "learning_curves.png").stat().st_size > 10_000
    assert "| stratified |" in (folder / "summary.md").read_text()
