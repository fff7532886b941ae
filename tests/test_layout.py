"""The package layout holds: stages import only lower stages, the language and the light commands stay light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "dlpipe"
# Lowest first: a module may import its own stage and the stages before it, never one after it.
STAGES = ["language", "archive", "data", "model", "engine", "report", "tracking", "runner", "trained", "sweep", "cli"]


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "dlpipe" and parts[1] in STAGES else None


def imports_of(path: Path) -> set[str]:
    """Every dlpipe module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlpipe"):
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("dlpipe")}
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_every_module_lives_in_a_stage():
    loose = [module_name(p) for p in MODULES if stage_of(module_name(p)) is None]
    assert loose == ["dlpipe", "dlpipe.__main__"]


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_a_stage_never_imports_a_later_one(path):
    mine = stage_of(module_name(path))
    if mine is None:
        return  # dlpipe/__init__ and __main__ stand above every stage
    later = {f"dlpipe.{stage}" for stage in STAGES[STAGES.index(mine) + 1:]}
    wrong = sorted(m for m in imports_of(path) if stage_of(m) and f"dlpipe.{stage_of(m)}" in later)
    assert wrong == [], f"{module_name(path)} ({mine}) imports later stages"


def test_the_layering_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dlpipe.runner import run\n")
    assert "dlpipe.runner" in imports_of(bad) and stage_of("dlpipe.runner.run") == "runner"


def light_modules(code: str) -> list[str]:
    """Which heavy libraries a fresh interpreter has loaded after running `code`."""
    probe = code + ("\nimport json, sys; "
                    "print(json.dumps(sorted(m for m in ('torch', 'matplotlib', 'pydantic') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_language_imports_no_torch():
    names = [module_name(p) for p in MODULES if stage_of(module_name(p)) == "language"]
    assert "dlpipe.language.pipeline" in names and len(names) >= 8
    assert light_modules("\n".join(f"import {name}" for name in names)) == ["pydantic"]


@pytest.mark.parametrize("args", [["--help"], ["runs", "--out", "nowhere"], ["runs", "--help"]])
def test_help_and_runs_import_neither_pydantic_torch_nor_matplotlib(args):
    code = (f"from click.testing import CliRunner; from dlpipe.cli import main; "
            f"r = CliRunner().invoke(main, {args!r}); assert r.exit_code in (0, 2), r.output")
    assert light_modules(code) == []


def test_jinja_is_set_up_in_one_place():
    setups = [module_name(p) for p in MODULES if "jinja2.Environment(" in p.read_text()]
    assert setups == ["dlpipe.report.pages"]


def test_no_page_imports_matplotlib(tmp_path):
    """Every page (run report, live page, compare, sweep, group, evaluation) is inline SVG: matplotlib is an optional
    extra (`plots`: dlpipe figures and report.charts: matplotlib), and importing every report module, drawing an
    overlay and a whole run (its report and charts.json) load none of it."""
    from conftest import TINY_SINE

    (tmp_path / "tiny.yaml").write_text(TINY_SINE)
    code = ("import sys, dlpipe, dlpipe.runner, dlpipe.report.live, dlpipe.trained.api, dlpipe.report.compare, "
            "dlpipe.report.sweep, dlpipe.report.group, dlpipe.trained.evaluation; "
            "from dlpipe.report.overlay import overlay_curves; "
            "assert overlay_curves([('a', {'epoch': [1, 2], 'time': [0.1, 0.2], 'train_loss': [1.0, 0.5], "
            "'val_loss': [1.1, 0.6]})])[0].startswith('<svg'); "
            "run = dlpipe.run(sys.argv[1], out=sys.argv[2], quiet=True); "
            "assert run.status == 'completed' and (run.path / 'charts.json').is_file(); "
            "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)[:3]")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "tiny.yaml"), str(tmp_path / "out")], check=True,
                   cwd=ROOT)
    setup = (ROOT / "setup.cfg").read_text()
    required = setup.split("install_requires =")[1].split("\n\n")[0]
    assert "matplotlib" not in required and "plots =\n    matplotlib" in setup  # an extra, never a dependency


def test_no_two_classes_share_a_name():
    """Each name says what it holds: the config's split fractions are not the data's samples, and so on."""
    names = [node.name for path in MODULES for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.ClassDef)]
    assert sorted({name for name in names if names.count(name) > 1}) == []
    records = {"TrainingState", "FitOutcome", "RunRecord", "Insights"}  # what a run's state is held in
    assert records <= set(names) and not {"Split", "TrainState", "FitResult", "Outcome", "RunResult",
                                          "RunInfo"} & set(names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the dlpipe modules it imports anywhere (top or late), resolved to modules that exist."""
    names = {module_name(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        found = set()
        for name in imports_of(path):
            while name and name not in names:  # `from dlpipe.x import f`: f is a function of dlpipe.x
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
        graph[module_name(path)] = found - {module_name(path)}
    # The root's lazy attributes (dlpipe.run, dlpipe.load) are its public face; Python imports the root before
    # any submodule, so it can never be the half-initialised module of a cycle.
    graph["dlpipe"] = set()
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every module that can reach itself, with one path back to it."""
    found = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    found.append(path + [start])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def test_no_import_cycles_not_even_through_a_late_import():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle_hidden_by_a_late_import():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b", "a"], ["b", "a", "b"]]


def test_every_module_imports_on_its_own():
    """A cycle hidden by a bottom-of-module import breaks `import dlpipe.language.files` alone: each, in turn."""
    names = [module_name(p) for p in MODULES if stage_of(module_name(p)) == "language"]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    for m in [k for k in sys.modules if k.startswith('dlpipe')]:\n        del sys.modules[m]\n    importlib.import_module(name)\n"
    subprocess.run([sys.executable, "-c", code, *names], check=True, cwd=ROOT)
