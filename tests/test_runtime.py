import torch

from qsa_gui.core import runtime


def test_default_threads_leave_a_core_for_the_gui():
    assert runtime.default_threads(1) == 1
    assert runtime.default_threads(2) == 1
    assert runtime.default_threads(8) == 7


def test_configure_threads_respects_env_and_explicit(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("QSA_THREADS", "1")
        assert runtime.configure_threads() == 1 and torch.get_num_threads() == 1
        assert runtime.configure_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
