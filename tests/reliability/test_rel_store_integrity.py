"""The project store cannot lose or misplace labels: OS-arbitrated lock under a takeover race,
failed saves that change nothing, label history across sessions, strict manifests, read-only
commands beside a writer, bad manifest values as exit 2, and umask-respecting file modes."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rel_helpers import labels_for, make_project

from qsa_gui.core import atomic
from qsa_gui.core.data.images import write_labels
from qsa_gui.core.errors import ProjectError
from qsa_gui.core.project import store as store_mod
from qsa_gui.core.project.store import STATUS_LABELLED, Project

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}


def qsa(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qsa_gui.cli", *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------ 1. stale-lock takeover race


def _writer(folder: str, image_id: str, index: int, barrier, acks) -> None:
    barrier.wait()
    deadline = time.monotonic() + 30
    while True:
        try:
            proj = Project.open(folder)
            break
        except ProjectError as e:
            if time.monotonic() > deadline or "another window" not in str(e):
                acks.put((image_id, f"error: {e}"))
                return
            time.sleep(0.005)
    with proj:
        proj.save_labels(image_id, labels_for(index, 1), done=True, user=f"w{index}")
    acks.put((image_id, "ok"))


@pytest.mark.parametrize("trial", range(4))
def test_writers_racing_over_a_stale_lock_never_lose_an_acknowledged_save(tmp_path: Path, trial: int) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=4).close()
    (folder / ".lock").write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "time": "x"}))
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    barrier, acks = ctx.Barrier(4), ctx.Queue()
    ids = [f"img_{i + 1:04d}" for i in range(4)]
    procs = [ctx.Process(target=_writer, args=(str(folder), ids[i], i, barrier, acks)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    results = dict(acks.get(timeout=5) for _ in procs)
    assert results == {i: "ok" for i in ids}, results
    with Project.open(folder, read_only=True) as ro:
        for k, image_id in enumerate(ids):
            assert ro.image(image_id).status == STATUS_LABELLED, f"acknowledged save of {image_id} lost"
            np.testing.assert_array_equal(ro.load_labels(image_id), labels_for(k, 1))


def test_lock_is_arbitrated_by_the_os_and_messages_name_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder, n_images=1)
    with pytest.raises(ProjectError, match=rf"open in another window \(pid {os.getpid()}\)"):
        Project.open(folder)
    proj.close()
    # a record with an absurd pid (2**64) and no holder is just stale: no overflow, no refusal
    (folder / ".lock").write_text(json.dumps({"pid": 2**64, "host": socket.gethostname(), "time": "x"}))
    r = qsa("status", str(folder))
    assert r.returncode == 0, r.stderr
    with Project.open(folder):
        pass
    # an empty lock file left by a crash is harmless too: no process holds it
    (folder / ".lock").write_bytes(b"")
    Project.open(folder).close()


# ------------------------------------------------------------------ 2. failed saves change nothing


def test_failed_manifest_write_leaves_the_project_byte_for_byte(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder, n_images=2)
    proj.save_labels("img_0001", labels_for(0, 1), done=True)
    proj.save_prediction("img_0002", labels_for(1, 5), "m1")
    before = snapshot(folder)

    def full_disk(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod, "atomic_write_json", full_disk)
    with pytest.raises(ProjectError, match="could not save"):
        proj.save_labels("img_0001", labels_for(0, 2), done=True)
    with pytest.raises(ProjectError, match="could not save"):
        proj.save_labels("img_0002", labels_for(1, 2))
    with pytest.raises(ProjectError, match="could not save"):
        proj.save_prediction("img_0002", labels_for(1, 6), "m1")  # same version, new content
    assert snapshot(folder) == before
    np.testing.assert_array_equal(proj.load_labels("img_0001"), labels_for(0, 1))
    proj.close()


def test_cli_label_that_reports_failure_keeps_the_previous_label_file(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder, n_images=1)
    proj.save_labels("img_0001", labels_for(0, 1), done=True)
    proj.close()
    new = tmp_path / "new.tif"
    write_labels(new, labels_for(0, 2))
    before = snapshot(folder)
    code = (
        "import errno, sys\n"
        "from qsa_gui.core.project import store\n"
        "def full(p, o):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "store.atomic_write_json = full\n"
        "from qsa_gui.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "label", str(folder), "img_0001", str(new)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode == 2 and "could not save" in r.stderr, r.stderr
    assert snapshot(folder) == before


# ------------------------------------------------------------------ 3. label history


def test_label_versions_survive_sessions_and_restore_is_itself_undoable(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    with make_project(folder, n_images=1) as p:
        p.save_labels("img_0001", labels_for(0, 1), done=True, user="ann")
        p.save_labels("img_0001", labels_for(0, 2), user="bob")  # autosaves collapse into one draft
        p.save_labels("img_0001", labels_for(0, 3), user="bob")
        p.save_labels("img_0001", labels_for(0, 4), done=True, user="bob")  # the mistaken overwrite
    with Project.open(folder) as p:
        versions = p.label_versions("img_0001")
        assert [v["version"] for v in versions] == [1, 2] and [v["by"] for v in versions] == ["ann", "bob"]
        assert versions[0]["objects"] == len(np.unique(labels_for(0, 1)[labels_for(0, 1) > 0]))
        entry = p.restore_labels("img_0001", 1, user="ann")
        assert entry["version"] == 3 and entry["restored_from"] == 1
    with Project.open(folder) as p:
        np.testing.assert_array_equal(p.load_labels("img_0001"), labels_for(0, 1))
        assert p.image("img_0001").status == STATUS_LABELLED
        p.restore_labels("img_0001", 2)  # undo the undo
    with Project.open(folder, read_only=True) as p:
        np.testing.assert_array_equal(p.load_labels("img_0001"), labels_for(0, 4))
        assert len(p.label_versions("img_0001")) == 4
        for v in p.label_versions("img_0001"):  # every version's file is still there
            assert p.load_label_version("img_0001", v["version"]).shape == labels_for(0, 1).shape


def test_cli_label_history_and_restore(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    for v in (1, 2):
        f = tmp_path / f"l{v}.tif"
        write_labels(f, labels_for(0, v))
        r = qsa("label", str(folder), "img_0001", str(f), "--user", f"u{v}")
        assert r.returncode == 0, r.stderr
    r = qsa("label", str(folder), "img_0001", "--history")
    assert r.returncode == 0 and "2 label versions" in r.stdout and "u1" in r.stdout, r.stdout + r.stderr
    r = qsa("label", str(folder), "img_0001", "--restore", "1")
    assert r.returncode == 0 and "as version 3" in r.stdout, r.stderr
    r = qsa("label", str(folder), "img_0001", "--restore", "9")
    assert r.returncode == 2 and "no label version 9" in r.stderr
    with Project.open(folder, read_only=True) as p:
        np.testing.assert_array_equal(p.load_labels("img_0001"), labels_for(0, 1))


# ------------------------------------------------------------------ 4. strict manifests


@pytest.mark.parametrize(
    ("mangle", "field"),
    [
        (lambda t: t.replace('"rounds": []', '"images": [], "rounds": []', 1), "images"),
        (
            lambda t: t.replace('"status": "unlabelled"', '"status": "unlabelled", "status": "labelled"', 1),
            "status",
        ),
        (
            lambda t: t.replace('"shape": [', '"shape": [true, ', 1).replace("true, 24, 32", "true, 24"),
            "shape",
        ),
        (lambda t: t.replace('"next_image_number": 3', '"next_image_number": -4'), "next_image_number"),
        (lambda t: t.replace('"split": "pool"', '"split": "train"', 1), "split"),
        (lambda t: t.replace('"copied": true', '"copied": "yes"', 1), "copied"),
    ],
)
def test_manifest_that_does_not_fit_is_refused_and_never_rewritten(
    tmp_path: Path, mangle, field: str
) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=2).close()
    mf = folder / "project.json"
    bad = mangle(mf.read_text())
    assert bad != mf.read_text()
    mf.write_text(bad)
    with pytest.raises(ProjectError, match=field) as info:
        Project.open(folder)
    assert "project.json" in str(info.value)
    r = qsa("status", str(folder))
    assert r.returncode == 2 and field in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert mf.read_text() == bad


def test_deeply_nested_manifest_is_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    mf = folder / "project.json"
    data = json.loads(mf.read_text())
    text = json.dumps(data)[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    mf.write_text(text)
    r = qsa("status", str(folder))
    assert r.returncode == 2 and "project.json" in r.stderr and "nested" in r.stderr, r.stderr


# ------------------------------------------------------------------ 5. read-only commands


def test_status_and_export_work_while_another_process_writes(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    proj = make_project(folder, n_images=2)
    proj.save_labels("img_0001", labels_for(0, 1), done=True)
    proj.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time\nfrom qsa_gui.core.project.store import Project\n"
            "p = Project.open(sys.argv[1]); print('ready', flush=True); time.sleep(120)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = qsa("label", str(folder), "img_0002", str(tmp_path / "x.tif"))
        assert r.returncode == 2 and f"pid {holder.pid}" in r.stderr  # writers still refused
        r = qsa("status", str(folder))
        assert r.returncode == 0 and "labelled: 1" in r.stdout, r.stderr
        r = qsa("export", str(folder), str(tmp_path / "out"))
        assert r.returncode == 0 and "exported 1 label images" in r.stdout, r.stderr
    finally:
        holder.kill()
        holder.wait(30)


def test_status_needs_no_write_access(tmp_path: Path, monkeypatch) -> None:
    """A read-only mount, simulated (root ignores permissions): no file may be opened for writing."""
    folder = tmp_path / "p"
    make_project(folder, n_images=1).close()
    before = snapshot(folder)
    real_open = os.open

    def no_write(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)

    from qsa_gui.cli import main

    monkeypatch.setattr(os, "open", no_write)
    assert main(["status", str(folder)]) == 0
    monkeypatch.undo()
    assert snapshot(folder) == before and not (folder / ".lock").exists()


# ------------------------------------------------------------------ 6. bad values are exit 2


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"lr": "fast"}, "settings.lr"), ({"device": "tpu"}, "settings.device"), ({"k": 2.5}, "settings.k")],
)
def test_bad_settings_values_are_exit_2_naming_the_field(tmp_path: Path, settings: dict, field: str) -> None:
    folder = tmp_path / "p"
    make_project(folder, n_images=1, settings={"preset": "tiny", **settings}).close()
    r = qsa("suggest", str(folder), "-q", timeout=300)
    assert r.returncode == 2, r.stderr
    assert field in r.stderr and "project.json" in r.stderr and "internal error" not in r.stderr


# ------------------------------------------------------------------ 7. umask


def test_atomic_writes_follow_the_umask_and_keep_an_existing_mode(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        atomic.atomic_write_bytes(tmp_path / "new.bin", b"x")
        assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o664
        (tmp_path / "kept.bin").write_bytes(b"a")
        (tmp_path / "kept.bin").chmod(0o640)
        atomic.atomic_write_json(tmp_path / "kept.bin", {"a": 1})
        assert stat.S_IMODE((tmp_path / "kept.bin").stat().st_mode) == 0o640
        os.umask(0o027)
        folder = tmp_path / "p"
        make_project(folder, n_images=1).close()
        assert stat.S_IMODE((folder / "project.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)
