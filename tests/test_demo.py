"""The simulated annotation loop behind the demo and the label-efficiency benchmark."""

import math
from dataclasses import replace

import numpy as np
from qsa_testkit import TINY_SETTINGS

from qsa_gui.core.data.synth import generate_dataset
from qsa_gui.core.jobs import run_job
from qsa_gui.core.workflow.simulation import active_learning_job

TINY = replace(
    TINY_SETTINGS,
    iterations=4,
    ensemble_iterations=2,
    finetune_iterations=2,
    inq_iterations=1,
    patch_size=32,
    tile=64,
)


def _data(n: int):
    data = generate_dataset(n, seed=3, size=(64, 64))
    return [d.image.astype(np.float32) / 255.0 for d in data], [d.labels for d in data]


def test_full_reference_gets_the_same_rounds_and_budget_as_the_strategies():
    """A fair 100% reference: all labels from round 1, but trained and fine-tuned once per round
    like every strategy, so its last round has seen the same number of training iterations."""
    images, labels = _data(10)
    rows = run_job(
        active_learning_job(
            images[:8],
            labels[:8],
            {"test": (images[8:], labels[8:])},
            (0.25, 0.5, 0.75),
            ("qsa", "full"),
            TINY,
            seed=0,
        )
    )
    full = [r for r in rows if r.strategy == "full"]
    qsa = [r for r in rows if r.strategy == "qsa"]
    assert [r.round for r in full] == [r.round for r in qsa] == [1, 2, 3]
    assert all(r.n_labelled == 8 and r.fraction == 1.0 for r in full)
    assert [r.n_labelled for r in qsa] == [2, 4, 6]
    # diversity is recorded where an ensemble scored the pool, and only there
    assert math.isnan(qsa[0].mean_uncertainty) and all(math.isnan(r.mean_uncertainty) for r in full)
    assert all(0.0 < r.mean_uncertainty < 0.5 for r in qsa[1:])
    # each round records its picks: the initial set, then new pool images, never one twice
    assert [len(r.added) for r in qsa] == [2, 2, 2] and all(r.added == () for r in full)
    picked = [i for r in qsa for i in r.added]
    assert len(set(picked)) == 6 and all(0 <= i < 8 for i in picked)


def test_gui_demo_project_adds_the_shipped_real_he_samples(tmp_path):
    from qsa_gui.core.project.store import Project
    from qsa_gui.core.workflow.demo_project import demo_project_job
    from qsa_gui.resources import sample_images

    path = run_job(demo_project_job(tmp_path / "demo", n_images=6, size=64))
    with Project.open(path, read_only=True) as p:
        names = {r.name for r in p.images}
        assert {s.name for s in sample_images()} <= names
        real = [r for r in p.images if r.name in {s.name for s in sample_images()}]
        assert all(r.split == "pool" and r.status == "unlabelled" for r in real)
        assert len(p.images) == 6 + len(real)


def test_demo_runs_every_seed_and_prints_a_paired_summary():
    """`qsa demo`'s promise: several independent seeds, compared paired, never one seed's luck."""
    from qsa_gui.core.workflow.simulation import DemoConfig, demo_job

    config = DemoConfig(n_pool=6, n_test=2, image_size=64, fractions=(0.2, 0.5), seeds=(0, 1), settings=TINY)
    result = run_job(demo_job(config))
    assert sorted({r["seed"] for r in result.rows}) == [0, 1]
    assert {(r["seed"], r["strategy"], r["round"]) for r in result.rows} == {
        (s, st, rnd) for s in (0, 1) for st in ("qsa", "random") for rnd in (1, 2)
    }
    # each seed has its own pool: seed 1's first-round metrics are not seed 0's
    rnd1 = [r for r in result.rows if r["round"] == 1 and r["strategy"] == "random"]
    first = {r["seed"]: r["object_dice"] for r in rnd1}
    assert first[0] != first[1]
    # both strategies start from the seed's shared first set: round 1 is identical, paired
    for seed in (0, 1):
        r1 = {r["strategy"]: r for r in result.rows if r["seed"] == seed and r["round"] == 1}
        assert r1["qsa"]["object_f1"] == r1["random"]["object_f1"]
    table = result.table()
    assert "qsa − random" in table and "wins" in table and "AULC 17%–50% qsa − random" in table
    assert "[" in table.splitlines()[1]  # two seeds: an interval, not a bare number
    assert "paired seeds" in result.verdict()
    assert "QSA" in result.seed_table(1) and "RANDOM" in result.seed_table(1)


def test_members_warm_start_from_the_previous_round_unless_asked_from_scratch(monkeypatch):
    """``settings.ensemble_warm_start``: the benchmark's scratch variant trains every round's
    suggestive members anew (more diverse); the default fine-tunes the previous round's."""
    import qsa_gui.core.workflow.simulation as sim

    images, labels = _data(8)
    inits: list = []
    real = sim.strategy_scores_job

    def spy(*args, init=None, **kwargs):
        inits.append(init)
        return real(*args, init=init, **kwargs)

    monkeypatch.setattr(sim, "strategy_scores_job", spy)
    for warm in (True, False):
        inits.clear()
        run_job(
            active_learning_job(
                images[:6], labels[:6], {"test": (images[6:], labels[6:])}, (1 / 3, 2 / 3, 1.0), ("qsa",),
                replace(TINY, ensemble_warm_start=warm), seed=0,
            )
        )  # fmt: skip
        assert len(inits) == 2 and inits[0] is None
        assert (inits[1] is not None) is warm
