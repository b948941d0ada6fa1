"""sim.toolchain.setup_environment: Verilator's make flags survive a parent make's MAKEFLAGS."""

import os

import pytest

from sim import toolchain

FLAGS = ["CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_COROUTINES=-fcoroutines",
         "CFG_LDLIBS_THREADS=-pthread"]


@pytest.mark.parametrize("inherited", [None, "", "s", "w -- FOO=1"])
def test_make_flags_are_added(monkeypatch, inherited):
    # `make test` runs pytest with MAKEFLAGS set by make itself, often to an empty string.
    if inherited is None:
        monkeypatch.delenv("MAKEFLAGS", raising=False)
    else:
        monkeypatch.setenv("MAKEFLAGS", inherited)
    toolchain.setup_environment()
    toolchain.setup_environment()
    words = os.environ["MAKEFLAGS"].split()
    for flag in FLAGS:
        assert words.count(flag) == 1, os.environ["MAKEFLAGS"]
    for word in (inherited or "").split():
        assert word in words


def test_a_users_value_wins(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "CFG_LDLIBS_THREADS=-lpthread")
    toolchain.setup_environment()
    assert "CFG_LDLIBS_THREADS=-pthread" not in os.environ["MAKEFLAGS"].split()
    assert "CFG_LDLIBS_THREADS=-lpthread" in os.environ["MAKEFLAGS"].split()
