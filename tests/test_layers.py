"""The dependency order of the packages, checked on the source of every module.

Each package may import only from its own layer and the layers below it::

    core  <  hw  <  sw  <  sim  <  boards  <  cli

``core`` is what everything shares (network, golden model, model files, transports, memory map,
configuration, cycle model); ``hw`` is gateware; ``sw`` the host software (it may use ``hw``,
as the host checks an upload with ``hw.soc.checksum_of``); ``sim`` the simulators; ``boards``
the board builds; ``cli`` the command lines. The modules that keep ``python -m sw.X`` and
``python -m hw.generate`` working are command lines too (:data:`CLI_SHIMS`), whatever folder
they sit in.

Every import statement counts, at module level or inside a function, so that a back edge
cannot hide in a function body; and a module may not import a project module inside a
function at all (heavy optional third-party packages, such as torch, nir or serial, may stay
lazy).
"""

import ast
import subprocess
import sys
from pathlib import Path


ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())

#: The packages, lowest first.
LAYERS = ("core", "hw", "sw", "sim", "boards", "cli")

#: Modules outside ``cli/`` that are command lines: the ``python -m`` shims.
CLI_SHIMS = frozenset({"hw.generate", "sw.attack", "sw.bench", "sw.cosim", "sw.demo", "sw.flash",
                       "sw.ganbench", "sw.gantrain", "sw.generate", "sw.linkbench", "sw.nir",
                       "sw.nirbench",
                       "sw.perf", "sw.run", "sw.scalebench", "sw.simboard", "sw.sweep", "sw.train"})


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path, path: Path):
    """``(line, imported module, inside a function)`` for every import statement of ``path``;
    ``from a import b`` gives ``a.b`` (a module or a name in ``a``), relative imports resolved."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local.update(id(inner) for inner in ast.walk(node) if inner is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            yield node.lineno, target, id(node) in local


def layer(module: str, layers=LAYERS, cli_modules=CLI_SHIMS):
    """Rank of ``module`` in ``layers`` (None outside the project)."""
    if module in cli_modules:
        return len(layers) - 1
    top = module.split(".")[0]
    return layers.index(top) if top in layers else None


def project_files(root: Path, layers=LAYERS):
    for package in layers:
        yield from sorted((root / package).rglob("*.py"))


def back_edges(root: Path, layers=LAYERS, cli_modules=CLI_SHIMS) -> list[str]:
    """Every import of a higher layer by a lower one, as ``path:line: a (layer) imports b
    (layer)``."""
    found = []
    for path in project_files(root, layers):
        importer = module_name(root, path)
        rank = layer(importer, layers, cli_modules)
        for line, target, _ in imports(root, path):
            # ``from sw import cosim`` names the module sw.cosim: rank by the longest match
            target_rank = layer(target, layers, cli_modules)
            if target.rpartition(".")[0] in cli_modules:
                target_rank = len(layers) - 1
            if target_rank is not None and target_rank > rank:
                found.append(f"{path.relative_to(root)}:{line}: {importer} "
                             f"({layers[rank]}) imports {target} ({layers[target_rank]})")
    return found


def local_project_imports(root: Path, layers=LAYERS) -> list[str]:
    """Every import of a project module inside a function body."""
    return [f"{path.relative_to(root)}:{line}: {target}"
            for path in project_files(root, layers)
            for line, target, inside in imports(root, path)
            if inside and target.split(".")[0] in layers]


# -- the tree --------------------------------------------------------------------------------

def test_no_lower_layer_imports_a_higher_one():
    edges = back_edges(ROOT)
    assert not edges, "imports against the layer order:\n" + "\n".join(edges)


def test_no_function_local_project_imports():
    found = local_project_imports(ROOT)
    assert not found, "project modules imported inside functions:\n" + "\n".join(found)


#: Shims whose command line has another name in ``cli/``: ``cli.generate`` is ``hw.generate``'s.
SHIM_TARGETS = {"sw.generate": "cli.gan"}


def test_shims_run_the_command_lines():
    """Each ``python -m`` shim exists and takes its ``main`` from ``cli``."""
    for name in sorted(CLI_SHIMS):
        path = ROOT.joinpath(*name.split(".")).with_suffix(".py")
        targets = [target for _, target, _ in imports(ROOT, path)]
        module = SHIM_TARGETS.get(name, f"cli.{name.split('.')[-1]}")
        assert f"{module}.main" in targets, f"{name} does not run cli's main"


def test_tests_do_not_import_each_other():
    """What tests share lives in a ``conftest.py`` as fixtures."""
    tests = ROOT / "tests"
    found = [f"{path.relative_to(ROOT)}:{line}: {target}"
             for path in sorted(tests.rglob("*.py"))
             for line, target, _ in imports(ROOT, path)
             if target.split(".")[0] == "tests" or target.rpartition(".")[2].startswith("test_")
             or target.split(".")[0].startswith("test_") or ".conftest" in target]
    assert not found, "tests importing other test modules:\n" + "\n".join(found)


def _imported_modules(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                           "print('\\n'.join(sorted(sys.modules)))"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in done.stdout.split()}


CORE_MODULES = sorted(module_name(ROOT, p) for p in (ROOT / "core").glob("*.py"))


def test_core_needs_no_amaranth():
    loaded = _imported_modules("\n".join(f"import {name}" for name in CORE_MODULES))
    assert "amaranth" not in loaded
    assert not loaded & set(LAYERS[1:])


def test_core_needs_no_torch():
    loaded = _imported_modules("\n".join(f"import {name}" for name in CORE_MODULES))
    assert "torch" not in loaded


# -- the checker, on trees made to break the rules --------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in LAYERS:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_checker_reports_back_edges(tmp_path):
    root = _tree(tmp_path, {
        "core/numbers.py": "import numpy\nfrom hw import gate\n",
        "hw/gate.py": "def make():\n    from sw.driver import Driver\n    return Driver\n",
        "sw/driver.py": "from core import numbers\nimport sim.pysim\n",
        "sw/run.py": "from cli.run import main\n",
        "sim/pysim.py": "import hw.gate\nfrom sw import driver\n",
        "boards/build.py": "from sim.pysim import x\n",
        "cli/run.py": "from boards import build\nfrom sw import run\n",
    })
    edges = back_edges(root, cli_modules=frozenset({"sw.run"}))
    assert edges == [
        "core/numbers.py:2: core.numbers (core) imports hw.gate (hw)",
        "hw/gate.py:2: hw.gate (hw) imports sw.driver.Driver (sw)",
        "sw/driver.py:2: sw.driver (sw) imports sim.pysim (sim)",
    ]
    assert local_project_imports(root) == ["hw/gate.py:2: sw.driver.Driver"]


def test_checker_passes_a_clean_tree(tmp_path):
    root = _tree(tmp_path, {
        "core/numbers.py": "import numpy\n",
        "hw/gate.py": "from core import numbers\nfrom . import gate\n",
        "sw/driver.py": "import hw.gate\nfrom core.numbers import x\n\n"
                        "def lazy():\n    import torch\n",
        "sw/snn/model.py": "from ..driver import lazy\nfrom . import loss\n",
        "cli/run.py": "from sw import driver\n",
    })
    assert back_edges(root) == []
    assert local_project_imports(root) == []


def test_a_shim_counts_as_a_command_line(tmp_path):
    """``from sw import run`` in a lower layer imports the shim, which is a command line."""
    root = _tree(tmp_path, {"sw/run.py": "from cli.run import main\n",
                            "sw/other.py": "from sw import run\n",
                            "cli/run.py": "def main():\n    pass\n"})
    assert back_edges(root, cli_modules=frozenset({"sw.run"})) == [
        "sw/other.py:1: sw.other (sw) imports sw.run (cli)"]
