"""Dependencies point one way (instructor -> ex4), without loops; the grading process imports no torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("ex4", "instructor", "utils.py", "solution.py")
STUDENT_SIDE = ("ex4", "utils")


def module_files(root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every Python file of ``SOURCES``."""
    modules = {}
    for entry in SOURCES:
        path = root / entry
        files = ([p for p in path.rglob("*.py") if "__pycache__" not in p.parts] if path.is_dir()
                 else [path] if path.is_file() else [])
        for file in files:
            parts = list(file.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = file
    return modules


def imports_of(file: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``file`` imports anywhere (inside functions too), by dotted name."""
    found = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name in modules:
                found.add(name)
    return found


def import_graph(root: Path = PROJECT_ROOT) -> dict[str, set[str]]:
    modules = module_files(root)
    # a package's own __init__ running first is not counted: it may import its submodules
    return {name: imports_of(file, modules) for name, file in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import loop as [a, b, ..., a], or [] when there is none."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node], _ = "open", stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target == node:
                continue
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node], _ = "done", stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def student_imports_of_the_grader(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{name} imports {target}" for name, targets in graph.items() if name.split(".")[0] in STUDENT_SIDE
                  for target in targets if target.split(".")[0] in ("instructor", "solution"))


def test_no_module_imports_in_a_loop():
    graph = import_graph()
    assert "instructor.tasks.probe_1a" in graph and "ex4.tasks.task_1a" in graph
    assert find_cycle(graph) == []


def test_the_student_code_imports_nothing_of_the_grader():
    assert student_imports_of_the_grader(import_graph()) == []


def test_the_walk_finds_a_loop_through_an_import_inside_a_function(tmp_path):
    (tmp_path / "ex4").mkdir()
    (tmp_path / "ex4" / "__init__.py").write_text("")
    (tmp_path / "ex4" / "a.py").write_text("from ex4 import b\n")
    (tmp_path / "ex4" / "b.py").write_text("def late():\n    import instructor.c\n")
    (tmp_path / "instructor").mkdir()
    (tmp_path / "instructor" / "__init__.py").write_text("")
    (tmp_path / "instructor" / "c.py").write_text("from ex4.a import x\n")
    graph = import_graph(tmp_path)
    assert find_cycle(graph) == ["ex4.a", "ex4.b", "instructor.c", "ex4.a"]
    assert student_imports_of_the_grader(graph) == ["ex4.b imports instructor.c"]


def test_the_grading_process_imports_no_torch():
    """What instructor.grade imports before the sandbox starts its workers holds no torch."""
    code = ("import sys\nimport instructor.grade, instructor.grading.class_report, instructor.points_table\n"
            "from instructor.tasks import REGISTRY\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
            "assert not [m for m in sys.modules if '.probe_' in m or m == 'instructor.grading.probes']\n")
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr


# what only the reader of submissions imports (seconds): the grading process never does
PARSER_MODULES = ("nbformat", "jupytext", "jsonschema", "IPython")


def test_reading_submissions_imports_no_parser_in_the_grading_process():
    """The reader process imports nbformat and jupytext; the grading process only gets the JSON answer."""
    code = ("import sys\nfrom pathlib import Path\nfrom instructor.grading.extraction import extract\n"
            "assert extract(Path('Ex4_Optimization2.ipynb')).tasks and extract(Path('solution.py')).tasks\n"
            f"loaded = [m for m in {PARSER_MODULES!r} if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.slow
def test_grading_a_submission_imports_no_torch_in_the_grading_process(tmp_path):
    """The whole run of ``instructor.grade`` on the reference: torch only ever in the sandbox's workers."""
    gradebook = tmp_path / "gradebook.json"
    code = ("import sys\nfrom instructor.grade import main\n"
            f"status = main(['--quiet', '--jobs', '2', '--json', {str(gradebook)!r}, 'solution.py'])\n"
            "assert status == 0, status\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n")
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert '"points": 100' in gradebook.read_text(encoding="utf-8")
