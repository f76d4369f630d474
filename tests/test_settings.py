"""Settings validate every field (type and range) with a message naming it; one bit-width check."""

from dataclasses import fields

import pytest

from qsa_gui.core.active.ensemble import EnsembleConfig
from qsa_gui.core.model.segmenter import ModelSetConfig, SegmenterConfig
from qsa_gui.core.model.training import TrainConfig
from qsa_gui.core.quant.inq import check_bits
from qsa_gui.core.settings import Settings, check_device_available

BAD = {
    "preset": ["huge", 3],
    "ensemble_size": [0, 2.5, "5", True],
    "ensemble_bits": [1, 9, 16, "7", 7.0],
    "seg_models": [0, None],
    "seg_bits": [9, "float"],
    "iterations": [-1, "300", None],
    "ensemble_iterations": [-5, 1.5],
    "ensemble_preset": ["huge", 3, ""],
    "ensemble_inq_iterations": [-1, "15", 2.5],
    "ensemble_patience": [0, -2, 1.5, "3"],
    "score_scale": [0, 1.5, -0.5, "0.5", None, True],
    "finetune_iterations": ["x"],
    "ensemble_warm_start": [None, 1, "true"],
    "inq_iterations": [-1, None],
    "batch_size": [0, 2.0],
    "patch_size": [0, "128"],
    "lr": ["fast", 0, -1e-3, float("inf"), float("nan"), None, True],
    "tile": [0, "256"],
    "overlap": [-1, 256, "32"],
    "strategy": ["best", None],
    "suggest_fraction": [0, 1.5, "0.1", None],
    "k": [0, -3, 2.0],
    "k_top": [0],
    "mc_samples": [0, None],
    "seed": [-1, "0", 1.5],
    "device": ["gpu", "cuda:", "cuda:x", "CPU", 0, ""],
    "quantizer": ["INQ", "binary", None, 1],
    "executor": ["slurm", None, "Ray"],
    "ray_address": ["", "  ", 6379],
}


@pytest.mark.parametrize("name", [f.name for f in fields(Settings)])
def test_every_field_is_validated_with_its_name(name):
    assert name in BAD, f"no bad values listed for settings.{name}"
    for value in BAD[name]:
        with pytest.raises(ValueError, match=rf"^settings\.{name}\b"):
            Settings(**{name: value})


def test_messages_say_what_is_wanted():
    with pytest.raises(ValueError, match=r"settings.lr must be a positive number, got 'fast'"):
        Settings(lr="fast")
    with pytest.raises(ValueError, match=r"settings.device must be None, 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        Settings(device="gpu")


def test_good_values_are_accepted():
    for device in (None, "cpu", "cuda", "cuda:0", "cuda:12", "mps"):
        assert Settings(device=device).device == device
    s = Settings(ensemble_bits=None, seg_bits=2, k=1, k_top=3, lr=1, suggest_fraction=1, seed=0)
    assert s.ensemble_config().bits is None and s.segmenter_config().bits == 2
    assert Settings.from_dict(s.to_dict()) == s
    ray = Settings(executor="ray", ray_address="ray://head:10001").ensemble_config()
    assert (ray.executor, ray.ray_address) == ("ray", "ray://head:10001")


def test_one_bit_check_everywhere():
    for bits in (1, 9, 16):
        for build in (
            lambda b: Settings(ensemble_bits=b),
            lambda b: TrainConfig(bits=b),
            lambda b: check_bits(b),
        ):
            with pytest.raises(ValueError, match=r"must be an integer in 2\.\.8"):
                build(bits)
    assert check_bits(None, allow_float=True) is None and check_bits(8) == 8
    with pytest.raises(ValueError, match=r"bits must be an integer in 2\.\.8, got None"):
        check_bits(None)


def test_missing_accelerator_is_refused_clearly(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="settings.device is 'cuda' but this machine has no CUDA device"):
        Settings(device="cuda").check_device()
    with pytest.raises(ValueError, match="no CUDA device"):
        check_device_available("cuda:1")
    Settings(device="cpu").check_device()
    Settings().check_device()


def test_ensemble_and_segmenter_configs_share_one_base():
    assert issubclass(EnsembleConfig, ModelSetConfig) and issubclass(SegmenterConfig, ModelSetConfig)
    shared = [f.name for f in fields(ModelSetConfig)]
    assert shared == ["n_models", "preset", "bits", "train", "seed", "quantizer"]
    assert [f.name for f in fields(SegmenterConfig)] == shared + ["tile", "overlap"]
    assert EnsembleConfig().n_models == 5 and SegmenterConfig().n_models == 1
    s = Settings(
        ensemble_size=3,
        seg_models=2,
        seed=4,
        tile=128,
        overlap=16,
        iterations=50,
        finetune_iterations=10,
        ensemble_iterations=None,
    )
    ens, seg = s.ensemble_config(warm=True), s.segmenter_config()
    assert (ens.n_models, ens.seed, ens.train.iterations, ens.bits) == (3, 4, 10, 7)
    assert (seg.n_models, seg.tile, seg.overlap, seg.train.iterations) == (2, 128, 16, 50)
    assert s.ensemble_config(float_weights=True).bits is None


def test_the_suggestive_members_get_their_own_smaller_budget():
    s = Settings()  # defaults: 120-iteration cap, early stopping, INQ scaled to the members' share
    ens, seg = s.ensemble_config(), s.segmenter_config()
    assert ens.train.iterations == 120 and seg.train.iterations == 300
    assert s.ensemble_config(warm=True).train.iterations == 40  # a later Suggest fine-tunes a third
    assert (ens.preset, seg.preset) == ("compact", "small")
    assert Settings(ensemble_preset=None).ensemble_config().preset == "small"
    assert Settings(preset="tiny").ensemble_config().preset == "tiny"  # never wider than preset
    assert ens.train.early_stop_patience == 3 and seg.train.early_stop_patience is None
    assert ens.train.inq_iterations == 16 and seg.train.inq_iterations == 40
    explicit = Settings(ensemble_inq_iterations=7, ensemble_patience=None, ensemble_iterations=None)
    assert explicit.ensemble_config().train.inq_iterations == 7
    assert explicit.ensemble_config().train.early_stop_patience is None
    assert explicit.ensemble_config().train.iterations == 300
    assert Settings(inq_iterations=0).ensemble_config().train.inq_iterations == 0
    assert Settings(inq_iterations=1, ensemble_iterations=1).ensemble_config().train.inq_iterations == 1
    s2 = Settings(score_scale=0.25, ensemble_patience=5, ensemble_inq_iterations=0)
    assert Settings.from_dict(s2.to_dict()) == s2
