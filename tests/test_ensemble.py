import numpy as np
import pytest
import torch

from qsa_gui.core.active.ensemble import EnsembleConfig, train_ensemble
from qsa_gui.core.active.scoring import score_pool
from qsa_gui.core.jobs import run_job
from qsa_gui.core.model.training import TrainConfig
from qsa_gui.core.quant.inq import inq_exponents, quantizable_parameters


def _discs(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for _ in range(n):
        lab = np.zeros((size, size), np.int32)
        for k in range(1, 3):
            cy, cx, r = rng.integers(12, size - 12, 2).tolist() + [int(rng.integers(6, 11))]
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = k
        img = np.where(lab[..., None] > 0, [0.5, 0.2, 0.6], [0.9, 0.7, 0.8]).astype(np.float32)
        img += 0.05 * rng.standard_normal(img.shape).astype(np.float32)
        images.append(np.clip(img, 0, 1))
        labels.append(lab)
    return images, labels


CFG = EnsembleConfig(
    n_models=3,
    preset="tiny",
    bits=5,
    train=TrainConfig(iterations=6, batch_size=2, patch_size=32, inq_iterations=2, device="cpu"),
    seed=4,
)


def test_members_differ_are_quantized_and_reproducible():
    images, labels = _discs(5)
    events = []
    models = run_job(train_ensemble(images, labels, CFG), events.append)
    assert len(models) == 3
    assert any("model 3/3" in e.stage for e in events)
    w = [dict(m.named_parameters())["stem.0.0.weight"].detach() for m in models]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])
    for _, p in quantizable_parameters(models[0]):  # every weight on its 5-bit power-of-two grid
        n1, n2 = inq_exponents(float(p.abs().max()), 5)
        nz = p.detach()[p.detach() != 0].abs()
        e = torch.log2(nz)
        assert torch.all(e == torch.round(e)) and e.max() <= n1 and e.min() >= n2
    again = run_job(train_ensemble(images, labels, CFG))
    for a, b in zip(models, again, strict=True):
        for (na, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(pa, pb), na


def test_scoring_gives_uncertainty_and_descriptor_per_image():
    images, labels = _discs(6, seed=1)
    models = run_job(train_ensemble(images[:3], labels[:3], CFG))
    ids = ["a", "b", "c"]
    scores = run_job(score_pool(models, ids, lambda i: images[3 + ids.index(i)], tile=64, overlap=16))
    assert scores.ids == ids and scores.uncertainty.shape == (3,)
    assert np.all(scores.uncertainty >= 0) and np.all(scores.uncertainty <= 0.5)
    assert scores.descriptors.shape == (3, models[0].descriptor_dim)
    assert np.all(np.isfinite(scores.descriptors))
    # the contour output's disagreement too (qsa_contour), on the same scale as the gland's
    assert scores.contour_uncertainty.shape == (3,)
    assert np.all(scores.contour_uncertainty >= 0) and np.all(scores.contour_uncertainty <= 0.5)


def test_needs_labels():
    with pytest.raises(ValueError):
        run_job(train_ensemble([], [], CFG))


def _on_grid(model) -> bool:
    return all(
        torch.all(torch.log2(p.detach()[p.detach() != 0].abs()) % 1 == 0)
        for _, p in quantizable_parameters(model)
    )


def test_scores_job_trains_what_the_registered_strategy_needs(monkeypatch):
    from dataclasses import replace

    from qsa_testkit import TINY_SETTINGS

    from qsa_gui.core.active import strategies
    from qsa_gui.core.workflow.scores import strategy_scores_job

    monkeypatch.setattr(strategies, "_REGISTRY", dict(strategies._REGISTRY))
    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES)  # restored after the test
    sa = strategies.get_strategy("sa")
    strategies.register_strategy(replace(sa, name="float_picks"))  # a new name, float members
    images, labels = _discs(4, seed=2)
    settings = replace(
        TINY_SETTINGS, iterations=2, inq_iterations=1, patch_size=32, tile=64, overlap=8, device="cpu"
    )

    def run(name):
        job = strategy_scores_job(
            name, settings, images[:2], labels[:2], ["c", "d"], lambda i: images[2 + "cd".index(i)], seed=0
        )
        return run_job(job)

    scores, models = run("float_picks")
    assert scores.ids == ["c", "d"] and len(models) == 2 and not any(_on_grid(m) for m in models)
    scores, models = run("qsa")
    assert len(models) == 2 and all(_on_grid(m) for m in models)
    with pytest.raises(ValueError, match="needs no trained scores"):
        run("random")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device"):
        run_job(
            strategy_scores_job("qsa", replace(settings, device="cuda"), images, labels, [], None, seed=0)
        )
