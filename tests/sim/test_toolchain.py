"""sim.toolchain: Verilator's make flags survive a parent make's MAKEFLAGS (setup_environment);
every run gets a folder of its own (run_folder)."""

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


class TestRunFolders:
    def test_every_run_gets_a_new_folder_removed_after_it(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SNN_RUN_DIR", str(tmp_path))
        design = toolchain.Design(tmp_path / "build" / "accel-0123456789abcdef")
        with toolchain.run_folder(design, "verilator", "cosim") as one, \
                toolchain.run_folder(design, "verilator", "cosim") as two:
            assert one != two and one.is_dir() and two.is_dir()
            assert one.parent == two.parent == tmp_path / design.key / "verilator"
            assert one.name.startswith("cosim-")
        assert not one.exists() and not two.exists()

    def test_a_failed_run_keeps_its_folder_and_old_ones_go(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SNN_RUN_DIR", str(tmp_path))
        design = toolchain.Design(tmp_path / "build" / "accel-0123456789abcdef")
        with pytest.raises(KeyError):
            with toolchain.run_folder(design, "icarus") as kept:
                (kept / "sim.log").write_text("what went wrong")
                raise KeyError("boom")
        assert (kept / "sim.log").exists()
        with toolchain.run_folder(design, "icarus", keep=True) as recent:
            pass
        assert recent.exists()
        day_old = kept.stat().st_mtime - 2 * 86400
        for path in (kept / "sim.log", kept):
            os.utime(path, (day_old, day_old))
        with toolchain.run_folder(design, "icarus"):
            assert not kept.exists() and recent.exists()
