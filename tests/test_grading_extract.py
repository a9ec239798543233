"""What the grader takes from a submission: statements per task, locations, review flags, malformed input.

Fast: nothing here starts the sandbox. Where a test runs the extracted code it
uses ``grading.task_namespace`` in this process, on harmless snippets.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from instructor.grading.extraction import (
    Statement,
    Submission,
    SubmissionError,
    TaskCode,
    extract,
    reference_code,
)
from instructor.grading.extraction.review import MAX_REVIEW_FLAGS
from instructor.grading.task_namespace import build_namespace, describe_exception, run_statements

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SOLUTION = PROJECT_ROOT / "solution.py"
TASKS = ("1a", "1b", "2a", "2b", "3a", "3b")
EXPECTED_KINDS = {"1a": "definition", "1b": "statements", "2a": "definition", "2b": "statements",
                  "3a": "definition", "3b": "definition"}


def write_notebook(folder: Path, *cells: str, name: str = "submission.ipynb") -> Path:
    """A notebook of ``cells``: code, or markdown when the text starts with ``md:``."""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(cell[3:]) if cell.startswith("md:") else nbformat.v4.new_code_cell(cell)
        for cell in cells])
    path = folder / name
    nbformat.write(notebook, path)
    return path


def write_text(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def sources(statements: tuple[Statement, ...]) -> list[str]:
    return [s.source for s in statements]


def graded(code: TaskCode) -> list[Statement]:
    return [s for s in code.context + code.task_code if s.graded]


def cell_holding(notebook: nbformat.NotebookNode, text: str) -> str:
    """``cell N`` of the first cell whose source contains ``text``, counting every cell from 1."""
    return next(f"cell {index + 1}" for index, cell in enumerate(notebook.cells) if text in cell.source)


def job(code: TaskCode, reference: tuple[str, ...] = ()) -> dict:
    return {"task": "x", "kind": code.kind, "reference": list(reference),
            "context": [s.to_json() for s in code.context], "task_code": [s.to_json() for s in code.task_code]}


@pytest.fixture(scope="module")
def reference_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


@pytest.fixture(scope="module")
def reference_submission() -> Submission:
    return extract(NOTEBOOK)


# --------------------------------------------------------------------- the reference and its exports


def test_the_reference_notebook_gives_every_task_at_its_cell(reference_notebook, reference_submission):
    tasks = reference_submission.tasks
    assert {task: code.kind for task, code in tasks.items()} == EXPECTED_KINDS
    assert reference_submission.review == ()
    expected = {"1a": "class SimpleMLP(nn.Module):", "2a": "def train(", "3a": "def compute_accuracy(",
                "3b": "def compute_accuracy_per_class("}
    for task, start in expected.items():
        (answer,) = graded(tasks[task])
        assert answer.where == cell_holding(reference_notebook, start)
        assert answer.source.startswith(start)
        first_line = reference_notebook.cells[int(answer.where.split()[1]) - 1].source.split("\n")[answer.line - 1]
        assert first_line.startswith(start)
    assert {s.where for s in graded(tasks["1b"])} == {cell_holding(reference_notebook, "### BEGIN SOLUTION 1b")}
    assert [s.source.split("\n")[0] for s in graded(tasks["1b"])] == [
        "model1 = SimpleFixedMLP()", "model2 = SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])", "model3 = nn.Sequential("]
    # the code cells after the task cell up to the next task's cell follow, ungraded, over the markdown cells
    assert {s.where for s in tasks["1b"].task_code if not s.graded} == {
        cell_holding(reference_notebook, 'print(f"Model {model_index + 1} parameter shapes:")'),
        cell_holding(reference_notebook, "non_learnable_tensor = torch.tensor")}
    assert {s.where for s in graded(tasks["2b"])} == {cell_holding(reference_notebook, "### BEGIN SOLUTION 2b")}
    assert any(s.source.startswith("for i, model in enumerate(models):") for s in tasks["2b"].task_code)


def test_the_context_leaves_out_data_loading_training_plots_and_self_checks(reference_submission):
    for task in TASKS:
        text = "\n".join(s.source for s in reference_submission.tasks[task].context if not s.graded)
        for absent in ("MNIST", "ensure_mnist", "train_loader =", "train_set =", "check_task_", "print(",
                       "seed_everything", "visualize_first_4", ".backward(", "plot_smoothed_losses",
                       "compute_accuracy(model, test_loader)", "torchvision"):
            assert absent not in text, (task, absent)
        assert "from utils import *" in text and "from ex4.self_checks import *" in text
        context = reference_submission.tasks[task].context
        assert not any(s.source.startswith(("while ", "with ")) for s in context)
        # the given loop that shows one batch runs without its print and plot: `batch` and `labels` exist
        (loop,) = [s for s in context if s.source.startswith("for ")]
        assert loop.source.split("\n") == ["for batch, labels in train_loader:", "    pass", "", "    pass",
                                           "    break"]


def test_protected_definitions_come_only_into_their_own_task(reference_submission):
    definitions = {"1a": "class SimpleMLP", "2a": "def train(", "3a": "def compute_accuracy(",
                   "3b": "def compute_accuracy_per_class("}
    for task in TASKS:
        text = "\n".join(sources(reference_submission.tasks[task].context))
        assert "class SimpleFixedMLP" not in text
        for owner, start in definitions.items():
            assert (start in text) == (owner == task), (task, start)
    # the statement tasks' cells are task code, not context
    assert "model1 = SimpleFixedMLP()" not in sources(reference_submission.tasks["1b"].context)
    assert "model1 = SimpleFixedMLP()" in sources(reference_submission.tasks["3a"].context)


def test_the_reference_module_is_graded_by_its_functions():
    submission = extract(SOLUTION)
    assert {task: code.kind for task, code in submission.tasks.items()} == {
        **EXPECTED_KINDS, "1b": "function", "2b": "function"}
    lines = SOLUTION.read_text(encoding="utf-8").split("\n")
    for task, name in (("1b", "def build_equivalent_models"), ("2b", "def train_models"), ("2a", "def train(")):
        (answer,) = graded(submission.tasks[task])
        assert answer.where == "" and lines[answer.line - 1].startswith(name)
    assert submission.review == ()


@pytest.mark.parametrize("fmt", ["py:percent", "py:light"])
def test_jupytext_exports_map_every_statement_to_its_file_line(tmp_path, reference_notebook, reference_submission,
                                                                fmt):
    text = jupytext.writes(reference_notebook, fmt=fmt)
    path = write_text(tmp_path, "export.py", text)
    lines = text.split("\n")
    submission = extract(path)
    assert {task: code.kind for task, code in submission.tasks.items()} == EXPECTED_KINDS
    for task in TASKS:
        code = submission.tasks[task]
        assert sources(code.context) == sources(reference_submission.tasks[task].context)
        assert sources(code.task_code) == sources(reference_submission.tasks[task].task_code)
        for statement in code.context + code.task_code:
            assert statement.where == ""
            assert lines[statement.line - 1] == statement.source.split("\n")[0], (task, statement)


COLAB_EXPORT = '''# -*- coding: utf-8 -*-
"""Ex4_Optimization2.ipynb

Automatically generated by Colab.

Original file is located at
    https://colab.research.google.com/drive/1AbCdEfGhIjK

# 1 Exercise Sheet 4 - Optimization 2
"""

!pip install tqdm

# Commented out IPython magic to ensure Python compatibility.
# %cd /content/drive/MyDrive/DL/Ex4
import math

from google.colab import drive
drive.mount('/content/drive')

import torch
from torch import nn
from torchvision import datasets
from torchvision.transforms import ToTensor
from utils import *

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

train_set = datasets.MNIST(root="data", download=True, transform=ToTensor())
train_loader = torch.utils.data.DataLoader(train_set, batch_size=32)

"""## 3 Models

### 3.1 Task 1a (20 P)
"""

class SimpleMLP(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(dims[0], dims[-1]))

    def forward(self, input):
        return self.layers(input.to(device))

check_task_1a(SimpleMLP)

"""### 4.5 Task 2b (10 P)"""

loss_fn = nn.CrossEntropyLoss()

models = [SimpleMLP(dims=[28 * 28, 32, 10]) for _ in range(10)]

optimizers = [torch.optim.Adam(model.parameters(), lr=0.04) for model in models]

losses = []
for model, optimizer in zip(models, optimizers):
    losses.append(train(model, train_loader, optimizer, loss_fn, n_epochs=1))

check_task_2b(models, optimizers, losses, train_loader)

"""### 5.1 Task 3a (20 P)"""

def compute_accuracy(model, dataloader):
    return float(len(str(device)) > 0) * math.floor(1.5)

print(compute_accuracy(models[0], train_loader))
'''


def test_a_colab_export_is_read_with_file_lines(tmp_path):
    path = write_text(tmp_path, "colab_export.py", COLAB_EXPORT)
    lines = COLAB_EXPORT.split("\n")
    submission = extract(path)
    tasks = submission.tasks
    assert {task: code.kind for task, code in tasks.items()} == {
        **EXPECTED_KINDS, "1b": "missing", "2a": "missing", "3b": "missing"}
    for task in ("1a", "2b", "3a"):
        for statement in tasks[task].context + tasks[task].task_code:
            assert statement.where == ""
            assert lines[statement.line - 1] == statement.source.split("\n")[0]
    (answer,) = graded(tasks["1a"])
    assert lines[answer.line - 1] == "class SimpleMLP(nn.Module):"
    context = "\n".join(sources(tasks["3a"].context))
    assert 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")' in context
    for absent in ("drive", "pip", "%cd", "MNIST", "train_loader =", "Automatically generated", "print("):
        assert absent not in context
    # Colab keeps no cell boundaries: the 2b cell is the assignment and the code around it, from the text before
    # it to the next task (`models` is built by the task code)
    code = tasks["2b"].task_code
    assert [(s.source.split("\n")[0], s.graded) for s in code] == [
        ("loss_fn = nn.CrossEntropyLoss()", False),
        ("models = [SimpleMLP(dims=[28 * 28, 32, 10]) for _ in range(10)]", False),
        ("optimizers = [torch.optim.Adam(model.parameters(), lr=0.04) for model in models]", True),
        ("losses = []", False), ("for model, optimizer in zip(models, optimizers):", False)]
    assert not any(s.source.startswith(("loss_fn", "models")) for s in tasks["2b"].context)
    namespace = build_namespace(job(tasks["3a"]), {})
    assert namespace["compute_accuracy"](None, None) == 1.0


def test_a_notebook_saved_with_a_py_name_is_read_as_a_notebook(tmp_path, reference_notebook, reference_submission):
    path = write_text(tmp_path, "renamed.py", nbformat.writes(reference_notebook))
    submission = extract(path)
    assert submission.tasks["3a"].context == reference_submission.tasks["3a"].context


# --------------------------------------------------------------------- the student's context


def test_a_global_device_a_helper_and_a_constant_from_other_cells_reach_compute_accuracy(tmp_path):
    path = write_notebook(
        tmp_path,
        "md:# Sheet 4",
        "import torch\nfrom torch import nn\ndevice = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "print(device)",
        "md:## Helpers",
        "N_CLASSES = 10\n\n\ndef to_device(batch):\n    return batch.to(device)",
        "def compute_accuracy(model, dataloader):\n    correct = total = 0\n    for batch, labels in dataloader:\n"
        "        predicted = model(to_device(batch)).argmax(dim=1).cpu()\n"
        "        correct += int((predicted == labels).sum())\n        total += len(labels)\n"
        "    assert N_CLASSES == 10\n    return correct / total",
        "accuracy = compute_accuracy(model, test_loader)\nprint(accuracy)",
    )
    code = extract(path).tasks["3a"]
    assert code.kind == "definition"
    assert [(s.where, s.line, s.source.split("\n")[0], s.graded) for s in code.context] == [
        ("cell 2", 1, "import torch", False),
        ("cell 2", 3, "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')", False),
        ("cell 4", 1, "N_CLASSES = 10", False),
        ("cell 4", 4, "def to_device(batch):", False),
        ("cell 5", 1, "def compute_accuracy(model, dataloader):", True)]
    import torch

    namespace = build_namespace(job(code), {})
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    loader = [(torch.randn(5, 2, 2), torch.tensor([0, 1, 2, 0, 1]))]
    accuracy = namespace["compute_accuracy"](model, loader)
    assert 0.0 <= accuracy <= 1.0


def test_import_aliases_are_part_of_the_context(tmp_path):
    path = write_notebook(
        tmp_path,
        "import torch.nn as tnn\nimport numpy as np\nimport torch",
        "class SimpleMLP(tnn.Module):\n    def __init__(self, dims):\n        super().__init__()\n"
        "        self.net = tnn.Sequential(tnn.Flatten(), tnn.Linear(dims[0], dims[-1]))\n"
        "        self.scale = float(np.sqrt(4.0))\n\n"
        "    def forward(self, x):\n        return self.net(x) * self.scale")
    code = extract(path).tasks["1a"]
    assert sources(code.context)[:2] == ["import torch.nn as tnn", "import numpy as np"]
    import torch

    namespace = build_namespace(job(code), {})
    assert namespace["SimpleMLP"]([4, 3])(torch.ones(2, 2, 2)).shape == (2, 3)


def test_magics_and_shell_lines_are_left_out_and_cell_magic_bodies_kept(tmp_path):
    path = write_notebook(
        tmp_path,
        "%matplotlib inline\n!pip install tqdm\nimport math\nSCALE = 3",
        "md:### Task 2b",
        "%%time\nmodels = [SimpleMLP([784, 10]) for _ in range(2)]\n"
        "optimizers = [torch.optim.Adam(m.parameters(), lr=0.04) for m in models]\n"
        "losses = [train(m, train_loader, o, loss_fn, 1) for m, o in zip(models, optimizers)]",
        "%%bash\necho hello",
        "def compute_accuracy(model, loader):\n    %time value = math.sqrt(SCALE ** 2)\n    return value\n"
        "SimpleMLP?")
    tasks = extract(path).tasks
    context = tasks["3a"].context
    assert [(s.where, s.line, s.source.split("\n")[0]) for s in context] == [
        ("cell 1", 3, "import math"), ("cell 1", 4, "SCALE = 3"),
        ("cell 3", 2, "models = [SimpleMLP([784, 10]) for _ in range(2)]"),
        ("cell 3", 3, "optimizers = [torch.optim.Adam(m.parameters(), lr=0.04) for m in models]"),
        ("cell 5", 1, "def compute_accuracy(model, loader):")]
    assert "    value = math.sqrt(SCALE ** 2)" in context[-1].source
    assert all("get_ipython" not in s.source and "echo" not in s.source for s in context)
    assert [(s.where, s.line) for s in tasks["2b"].task_code] == [("cell 3", 2), ("cell 3", 3), ("cell 3", 4)]
    assert build_namespace(job(tasks["3a"]), {})["compute_accuracy"](None, None) == 3.0


def test_lines_stay_right_when_ipython_joins_or_drops_lines(tmp_path):
    path = write_notebook(tmp_path, "\n\n!pip install \\\n    tqdm\nimport math\n%time LIMIT = 2",
                          "def compute_accuracy(model, loader):\n    return LIMIT + math.floor(0.5)")
    code = extract(path).tasks["3a"]
    assert [(s.source, s.line) for s in code.context[:2]] == [("import math", 5), ("LIMIT = 2", 6)]
    assert build_namespace(job(code), {})["compute_accuracy"](None, None) == 2


def test_a_wrong_first_attempt_redefined_later_does_not_count(tmp_path):
    path = write_notebook(
        tmp_path,
        "class SimpleMLP:\n    broken = 1 / 0",
        "def train(model, loader, optimizer, loss_fn, n_epochs=20):\n    return first_attempt_helper()",
        "md:I fixed it below.",
        "class SimpleMLP:\n    def __init__(self, dims):\n        self.dims = dims",
        "def train(model, loader, optimizer, loss_fn, n_epochs=20):\n    return [1.0] * n_epochs")
    tasks = extract(path).tasks
    assert [(s.where, s.graded) for s in tasks["2a"].context] == [("cell 2", False), ("cell 5", True)]
    assert [(s.where, s.graded) for s in tasks["1a"].context] == [("cell 1", False), ("cell 4", True)]
    assert build_namespace(job(tasks["2a"]), {})["train"](None, None, None, None, 2) == [1.0, 1.0]
    assert build_namespace(job(tasks["1a"]), {})["SimpleMLP"]([3]).dims == [3]


def test_a_plot_in_the_2b_cell_stays_in_its_task_code_only(tmp_path, reference_notebook):
    notebook = nbformat.from_dict(reference_notebook)
    cell = next(c for c in notebook.cells if "### BEGIN SOLUTION 2b" in c.source)
    cell.source += "\nimport matplotlib.pyplot as plt\nplt.plot(losses[0])\nplt.show()"
    path = tmp_path / "plot.ipynb"
    nbformat.write(notebook, path)
    tasks = extract(path).tasks
    assert sources(graded(tasks["2b"]))[-3:] == ["import matplotlib.pyplot as plt", "plt.plot(losses[0])",
                                                 "plt.show()"]
    assert all(s.where == cell.get("id") or s.graded for s in tasks["2b"].task_code[:-1])
    assert not any("plt." in s.source for task in TASKS for s in tasks[task].context)


def test_data_names_self_checks_colab_and_solution_imports_never_run(tmp_path):
    path = write_notebook(
        tmp_path,
        "from google.colab import drive, files\ndrive.mount('/content/drive')\nuploaded = files.upload()\n"
        "from solution import *\nimport solution\nkept = 1\nfrom mnist_data import ensure_mnist\n"
        "import urllib.request\nbatch_size = 32",
        "train_loader = DataLoader(train_set, batch_size=batch_size)\ntest_set = 5\nimages = load_mnist()\n"
        "mnist_path = download_file('x')",
        "optimizers = [1]\ntrain_loader = None\ncheck_task_2b(models, optimizers, losses, train_loader)\n"
        "print('done')")
    tasks = extract(path).tasks
    assert sources(tasks["3a"].context) == []  # compute_accuracy is missing: nothing to grade
    assert sources(tasks["2b"].context) == ["kept = 1", "batch_size = 32"]
    assert sources(tasks["2b"].task_code) == ["optimizers = [1]", "print('done')"]


def test_only_if_and_try_blocks_of_definitions_run(tmp_path):
    path = write_notebook(
        tmp_path,
        "try:\n    import tqdm\nexcept ImportError:\n    tqdm = None",
        "if True:\n    LIMIT = 3\nelse:\n    LIMIT = 4",
        "if LIMIT:\n    print('big')",
        "with open('x') as handle:\n    data = handle.read()",
        "for i in range(3):\n    total = i",
        "while False:\n    pass",
        "del LIMIT\nassert True\nLIMIT + 1",
        "def compute_accuracy(model, loader):\n    return LIMIT / 10 + (tqdm is None) * 0")
    code = extract(path).tasks["3a"]
    assert [s.where for s in code.context] == ["cell 1", "cell 2", "cell 8"]
    assert build_namespace(job(code), {})["compute_accuracy"](None, None) == 0.3


def test_if_and_try_blocks_run_without_their_prints_loops_and_plots(tmp_path):
    path = write_notebook(
        tmp_path,
        "import torch\nif torch.cuda.is_available():\n    device = torch.device('cuda')\n    print('GPU')\n"
        "else:\n    device = torch.device('cpu')\n    print('CPU')",
        "try:\n    import tqdm\n    print('tqdm', tqdm.__version__)\nexcept ImportError:\n    tqdm = None; print('no')",
        "if True:\n    for i in range(3):\n        print(\n            i)\n    LIMIT = 3\nelif False:\n    print(1)",
        "if LIMIT:\n    print('big')",
        "if True:\n    fig = visualize_first_4(b, l)\n    SIZE = 2",
        "if True:\n    SCORE = compute_accuracy(model, test_loader)\n    print(SCORE)",
        "if True:\n    images = datasets.MNIST('data')\n    OTHER = 1",
        "def compute_accuracy(model, loader):\n    return device.type, tqdm is not None, LIMIT, SIZE")
    code = extract(path).tasks["3a"]
    assert [(s.where, s.line, s.source) for s in code.context] == [
        ("cell 1", 1, "import torch"),
        ("cell 1", 2, "if torch.cuda.is_available():\n    device = torch.device('cuda')\n    pass\n"
                      "else:\n    device = torch.device('cpu')\n    pass"),
        ("cell 2", 1, "try:\n    import tqdm\n    pass\nexcept ImportError:\n    tqdm = None; pass"),
        ("cell 3", 1, "if True:\n    pass\n\n\n    LIMIT = 3\nelif False:\n    pass"),
        ("cell 5", 1, "if True:\n    pass\n    SIZE = 2"),
        ("cell 8", 1, "def compute_accuracy(model, loader):\n    return device.type, tqdm is not None, LIMIT, SIZE")]
    assert build_namespace(job(code), {})["compute_accuracy"](None, None)[2:] == (3, 2)


def test_the_given_loop_that_shows_one_batch_defines_batch(tmp_path):
    path = write_notebook(
        tmp_path,
        "for batch, labels in train_loader:\n    print(batch.shape)\n    fig = visualize_first_4(batch, labels)\n"
        "    break\nelse:\n    print('empty')",
        "for images, targets in train_loader:\n    loss = loss_fn(model(images), targets)\n    loss.backward()\n"
        "    break",
        "for x in range(3):\n    first = x",
        "for x in range(3):\n    if x:\n        break\n    second = x",
        "while True:\n    third = 1\n    break",
        "model1 = SimpleFixedMLP()\nmodel2 = SimpleMLP([784, 10])\nmodel3 = None\nprint(model1(batch).shape)")
    code = extract(path).tasks["1b"]
    assert [(s.where, s.source) for s in code.context] == [
        ("cell 1", "for batch, labels in train_loader:\n    pass\n    pass\n    break\nelse:\n    pass")]
    import torch

    namespace = build_namespace(job(code), {"train_loader": [(torch.ones(2, 3), torch.zeros(2)), None]})
    assert namespace["batch"].shape == (2, 3) and "fig" not in namespace


def test_only_what_loads_or_downloads_data_is_data(tmp_path):
    path = write_notebook(
        tmp_path,
        "import mnist_data\nfrom torchvision.datasets import MNIST\nimport requests\n"
        "from utils import MNIST_CLASSES as GIVEN_CLASSES, seed_everything\n"
        "mnist_classes = list(range(10))\nMNIST_CLASSES = tuple(mnist_classes)\nn_mnist = 10\n"
        "mnist_train = datasets.MNIST('data', download=True)\nimages = load_mnist()\nfashion = FashionMNIST('x')\n"
        "reply = requests.get('http://example.org')\nfiles = mnist_data.ensure_mnist('data')\n"
        "path = fetch_file('x', download=False)",
        "def compute_accuracy_per_class(model, loader):\n"
        "    return {c: float(n_mnist) for c in mnist_classes + list(MNIST_CLASSES)}, mnist_data, requests, MNIST, "
        "GIVEN_CLASSES")
    code = extract(path).tasks["3b"]
    assert sources(code.context)[:-1] == [
        "from utils import MNIST_CLASSES as GIVEN_CLASSES, seed_everything", "mnist_classes = list(range(10))",
        "MNIST_CLASSES = tuple(mnist_classes)", "n_mnist = 10"]
    assert build_namespace(job(code), {})["compute_accuracy_per_class"] is not None


def test_a_deep_but_valid_expression_is_graded_normally(tmp_path):
    terms = " + ".join(["1"] * 800)
    path = write_notebook(tmp_path,
                          f"def compute_accuracy(model, loader):\n    depth = {terms}\n    return depth / 1000")
    code = extract(path).tasks["3a"]
    assert code.kind == "definition"
    assert build_namespace(job(code), {})["compute_accuracy"](None, None) == 0.8


def test_statements_that_train_evaluate_or_plot_stay_out_of_the_context(tmp_path):
    path = write_notebook(
        tmp_path,
        "import torch\nmodel = torch.nn.Linear(2, 2)\nloss = model(torch.ones(2)).sum()",
        "losses = train(model, train_loader, optimizer, loss_fn)\nscore = compute_accuracy(model, test_loader)\n"
        "per_class = compute_accuracy_per_class(model, test_loader)\nfig = plot_smoothed_losses(losses)\n"
        "fig2 = accuracies_bar_plot([per_class])\nfig3 = visualize_first_4(b, l)\nok = check_task_1a(SimpleMLP)\n"
        "grads = loss.backward()\nstepped = optimizer.step()\nmodels = build_equivalent_models()\n"
        "result = train_models([], None, None)\nmode = model.train()",
        "def compute_accuracy(model, loader):\n    return 1.0")
    context = sources(extract(path).tasks["3a"].context)
    assert context == ["import torch", "model = torch.nn.Linear(2, 2)", "loss = model(torch.ones(2)).sum()",
                       "mode = model.train()", "def compute_accuracy(model, loader):\n    return 1.0"]


def test_imports_nothing_uses_are_left_out(tmp_path):
    path = write_notebook(
        tmp_path,
        "import numpy as np\nfrom torchvision.transforms import ToTensor\nimport math\nfrom utils import *\n"
        "from __future__ import annotations",
        "def compute_accuracy(model, loader):\n    return math.floor(1.5)")
    assert sources(extract(path).tasks["3a"].context)[:-1] == [
        "import math", "from utils import *", "from __future__ import annotations"]


def test_a_module_that_calls_its_own_1b_function_at_top_level(tmp_path):
    path = write_text(tmp_path, "module.py",
                      "def build_equivalent_models():\n    return SimpleFixedMLP(), SimpleMLP([1, 2]), list()\n\n\n"
                      "model1, model2, model3 = build_equivalent_models()\n")
    code = extract(path).tasks["1b"]
    assert code.kind == "statements"
    assert [(s.line, s.graded) for s in code.task_code] == [(5, True)]
    assert [s.line for s in code.context] == [1]
    reference = ("class SimpleFixedMLP:\n    pass", "class SimpleMLP:\n    def __init__(self, dims):\n"
                                                  "        self.dims = dims")
    namespace = build_namespace(job(code, reference), {})
    run_statements([s.to_json() for s in code.task_code], namespace)
    assert namespace["model2"].dims == [1, 2] and namespace["model3"] == []


def test_the_2b_code_continues_into_the_next_code_cells_ungraded(tmp_path):
    path = write_notebook(
        tmp_path,
        "md:### Task 2b",
        "optimizers = [torch.optim.Adam(m.parameters(), lr=0.04) for m in models]",
        "md:Now we train every model for one epoch:",
        "losses = [train(m, train_loader, o, loss_fn, 1) for m, o in zip(models, optimizers)]",
        "md:### Task 3a",
        "summary = len(losses)",
        "def compute_accuracy(model, loader):\n    return 1.0",
        "after = len(summary)")
    code = extract(path).tasks["2b"]
    # over markdown cells, up to the cell that defines another task's name
    assert [(s.where, s.graded) for s in code.task_code] == [("cell 2", True), ("cell 4", False),
                                                             ("cell 6", False)]
    assert sources(code.context) == []


def test_the_2b_code_continues_over_a_comment_paragraph_of_a_light_script(tmp_path):
    path = write_text(tmp_path, "light.py", (
        "import torch\n\n\ndef train(model, loader, optimizer, loss_fn, n_epochs=20):\n    return [1.0]\n\n\n"
        "models = [torch.nn.Linear(2, 2) for _ in range(2)]\n"
        "optimizers = [torch.optim.Adam(m.parameters(), lr=0.04) for m in models]\n\n"
        "# Now we train every model for one epoch\n# and keep its losses.\n\n"
        "losses = [train(m, None, o, None, 1) for m, o in zip(models, optimizers)]\n"))
    code = extract(path).tasks["2b"]
    assert [(s.source.split(" =")[0], s.graded) for s in code.task_code] == [
        ("models", True), ("optimizers", True), ("losses", False)]
    assert [s.line for s in code.task_code] == [8, 9, 14]


def test_the_statement_tasks_run_after_only_what_comes_before_their_cell(tmp_path):
    path = write_notebook(
        tmp_path,
        "import torch\nLEARNING_RATE = 0.04\ndims = [784, 32, 10]\n\n\ndef helper():\n    return 1",
        "model1 = SimpleFixedMLP()\nmodel2 = SimpleMLP(dims)\nmodel3 = None",
        "md:### Task 2b",
        "optimizers = [torch.optim.Adam(m.parameters(), lr=LEARNING_RATE) for m in models]",
        "def compute_accuracy(model, loader):\n    return LEARNING_RATE + helper()",
        "md:## Bonus",
        "LEARNING_RATE = 0.001\ndims = [784, 128, 10]\nimport math\n\n\ndef helper():\n    return 2\n\n\n"
        "def later_helper():\n    return math.pi")
    tasks = extract(path).tasks
    # the bonus cell's reassignments never run before the task code; its new definitions may (cells out of order)
    for task in ("1b", "2b"):
        assert sources(tasks[task].context) == [
            *(["import torch"] if task == "2b" else []),  # 1b does not use torch
            "LEARNING_RATE = 0.04", "dims = [784, 32, 10]", "def helper():\n    return 1",
            *(["model1 = SimpleFixedMLP()", "model2 = SimpleMLP(dims)", "model3 = None"] if task == "2b" else []),
            "import math", "def later_helper():\n    return math.pi"], task
    assert sources(tasks["2b"].task_code)[0].startswith("optimizers =")
    # a definition task runs everything, the last definition winning
    namespace = build_namespace(job(tasks["3a"]), {})
    assert namespace["compute_accuracy"](None, None) == 2.001


# --------------------------------------------------------------------- locations


def test_locations_count_every_cell_and_split_statements_of_one_line(tmp_path):
    path = write_notebook(tmp_path, "md:# a", "x = 1; y = 2\nz = 3", "md:b", "md:c",
                          "\n\ndef compute_accuracy(m, d):\n    return 1.0")
    code = extract(path).tasks["3a"]
    assert [(s.source, s.where, s.line) for s in code.context] == [
        ("x = 1", "cell 2", 1), ("y = 2", "cell 2", 1), ("z = 3", "cell 2", 2),
        ("def compute_accuracy(m, d):\n    return 1.0", "cell 5", 3)]


def test_statement_json():
    assert Statement("x = 1", "cell 3", 2, True).to_json() == {"source": "x = 1", "where": "cell 3", "line": 2,
                                                              "graded": True}


def test_an_error_message_points_at_the_students_cell_and_line(tmp_path):
    path = write_notebook(tmp_path, "md:# Sheet", "LIMIT = 2",
                          "def compute_accuracy(model, loader):\n    total = LIMIT\n    return total / missing_name")
    namespace = build_namespace(job(extract(path).tasks["3a"]), {})
    with pytest.raises(NameError) as info:
        namespace["compute_accuracy"](None, None)
    assert describe_exception(info.value) == (
        "NameError: name 'missing_name' is not defined (cell 3, line 3: `return total / missing_name`)")


# --------------------------------------------------------------------- syntax errors


def test_a_broken_cell_that_only_calls_a_task_does_not_cost_it(tmp_path):
    path = write_notebook(tmp_path, "losses = train(model, loader,",
                          "def train(model, loader, optimizer, loss_fn, n_epochs=1):\n    return []",
                          "print(compute_accuracy(")
    tasks = extract(path).tasks
    assert tasks["2a"].kind == "definition"
    assert tasks["3a"].kind == "missing"
    assert tasks["3a"].problem.startswith("cell 3, which holds `compute_accuracy`, cannot be parsed: SyntaxError")


def test_a_broken_redefinition_after_the_last_good_one_costs_the_task(tmp_path):
    path = write_notebook(tmp_path, "def train(model):\n    return []", "md:retry",
                          "def train(model):\n    return [", "def compute_accuracy(m, d):\n    return 1.0")
    tasks = extract(path).tasks
    assert tasks["2a"] == TaskCode("missing", problem="cell 3, which holds `train`, cannot be parsed: "
                                                      "SyntaxError: '[' was never closed (line 2)")
    assert tasks["3a"].kind == "definition"


def test_a_broken_statement_cell_costs_only_its_task(tmp_path):
    path = write_notebook(tmp_path, "model1 = SimpleFixedMLP()\nmodel2 = SimpleMLP([1, 2])\nmodel3 = None",
                          "check_task_1b(model1, model2, model3",
                          "optimizers = [torch.optim.Adam(m.parameters() for m in models]")
    tasks = extract(path).tasks
    assert tasks["1b"].kind == "statements"
    assert tasks["2b"].kind == "missing" and tasks["2b"].problem.startswith("cell 3, which holds the Task 2b code")


def test_a_syntax_error_in_a_python_file_names_the_file_line(tmp_path):
    path = write_text(tmp_path, "broken.py", "import math\n\n\ndef compute_accuracy(m, d):\n    return 1.0\n\n\n"
                                             "def train(model):\n    return [\n")
    tasks = extract(path).tasks
    assert tasks["3a"].kind == "definition"
    assert tasks["2a"].kind == "missing"
    assert tasks["2a"].problem.startswith("the code at line 8, which holds `train`, cannot be parsed: SyntaxError")
    assert tasks["2a"].problem.endswith("(line 9)")


# --------------------------------------------------------------------- malformed input

VALID_CELL = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": "def compute_accuracy(m, d):\n    return 1.0"}


def notebook_json(*cells: object) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)})


MALFORMED = {
    "not_json.ipynb": "{ not json",
    "empty.ipynb": "",
    "a_list.ipynb": "[1, 2]",
    "cells_a_number.ipynb": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 5}),
    "no_cells.ipynb": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}),
    "invalid_utf8.ipynb": b'{"nbformat": 4, "cells": [], "x": "\xff\xfe"}',
    "invalid_utf8.py": b"def compute_accuracy(m, d):\n    return '\xff'\n",
    "deep_json.ipynb": '{"nbformat": 4, "nbformat_minor": 5, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "unknown_version.ipynb": json.dumps({"nbformat": 99, "cells": []}),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_unreadable_files_give_a_submission_error(tmp_path, name):
    path = write_text(tmp_path, name, MALFORMED[name])
    with pytest.raises(SubmissionError) as info:
        extract(path)
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".ipynb", ".py"])
def test_a_50_mb_file_is_refused_quickly(tmp_path, suffix):
    path = tmp_path / f"huge{suffix}"
    with path.open("wb") as handle:
        handle.write(b"x = 1\n" * (50 * 2**20 // 6))
    start = time.perf_counter()
    with pytest.raises(SubmissionError, match="MB"):
        extract(path)
    assert time.perf_counter() - start < 1.0


MALFORMED_CELLS = {
    "no_source": {"cell_type": "code", "metadata": {}, "outputs": []},
    "source_of_numbers": {"cell_type": "code", "metadata": {}, "outputs": [], "source": [1, 2]},
    "not_a_dict": 5,
    "no_cell_type": {"source": "def train(m):\n    return []"},
    "lone_surrogate": {"cell_type": "code", "metadata": {}, "outputs": [],
                       "source": "def train(model):\n    return ['\ud800']"},
    "deeply_nested": {"cell_type": "code", "metadata": {}, "outputs": [],
                      "source": "def train(model):\n    return " + "-" * 200_000 + "1"},
    "long_attribute_chain": {"cell_type": "code", "metadata": {}, "outputs": [],
                             "source": "def train(model):\n    return model" + ".x" * 100_000},
    "too_long": {"cell_type": "code", "metadata": {}, "outputs": [],
                 "source": "def train(model):\n    return 1\n" + "# comment\n" * 60_000},
    "null_byte": {"cell_type": "code", "metadata": {}, "outputs": [], "source": "def train(model):\n    \0return 1"},
}


@pytest.mark.parametrize("name", MALFORMED_CELLS)
def test_a_malformed_cell_costs_only_itself(tmp_path, name):
    text = notebook_json(MALFORMED_CELLS[name], VALID_CELL)
    path = tmp_path / f"{name}.ipynb"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    tasks = extract(path).tasks
    assert tasks["3a"].kind == "definition"
    assert graded(tasks["3a"])[0].where == "cell 2"
    assert tasks["2a"].kind == "missing"
    if "train" in json.dumps(MALFORMED_CELLS[name]) and name != "no_cell_type":
        assert tasks["2a"].problem.startswith("cell 1, which holds `train`, cannot be parsed: ")
    assert "\n" not in tasks["2a"].problem and len(tasks["2a"].problem) < 300
    tasks["2a"].problem.encode("utf-8")  # printable: no lone surrogates


def test_other_notebook_shapes_are_read(tmp_path):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "text"],
              "attachments": {"image.png": {"image/png": "AAAA"}}},
             {"cell_type": "raw", "metadata": {}, "source": "raw text"},
             {"cell_type": "code", "metadata": {"colab": {"base_uri": "https://localhost:8080/"}}, "outputs": [],
              "execution_count": 3, "source": ["def compute_accuracy(m, d):\n", "    return 1.0"]}]
    old_minor = tmp_path / "minor4.ipynb"
    old_minor.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 2, "cells": cells}), encoding="utf-8")
    v3 = tmp_path / "v3.ipynb"
    v3.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "def compute_accuracy(m, d):\n    return 1.0", "language": "python",
         "outputs": []}]}]}), encoding="utf-8")
    bom = tmp_path / "bom.ipynb"
    bom.write_bytes(b"\xef\xbb\xbf" + notebook_json(VALID_CELL).encode())
    windows = write_text(tmp_path, "windows.py", "import math\r\n\r\ndef compute_accuracy(m, d):\r\n    return 1.0\r\n")
    for path, where, line in ((old_minor, "cell 3", 1), (v3, "cell 1", 1), (bom, "cell 1", 1), (windows, "", 3)):
        (answer,) = graded(extract(path).tasks["3a"])
        assert (answer.where, answer.line) == (where, line), path.name


# --------------------------------------------------------------------- review flags


def test_review_flags_name_each_place_once(tmp_path):
    path = write_notebook(
        tmp_path,
        "md:# Sheet",
        "import sys\nimport socket as net\nfrom os import write as raw_write\nimport inspect",
        "def train(model):\n    frame = sys._getframe(1); other = sys._getframe(2)\n    raw_write(1, b'x')\n"
        "    net.socket()\n    caller = inspect.currentframe().f_back\n    open('/proc/self/status')\n"
        "    import os, signal\n    os.kill(1, signal.SIGKILL)")
    assert extract(path).review == (
        "socket, cell 2 line 2", "os.write, cell 2 line 3", "sys._getframe, cell 3 line 2",
        "os.write, cell 3 line 3", "socket, cell 3 line 4", "inspect.currentframe, cell 3 line 5",
        "/proc, cell 3 line 6", "signal, cell 3 line 7", "os.kill/signal, cell 3 line 8")


@pytest.mark.parametrize("code, label", [
    ("import gc", "gc"), ("import ctypes", "ctypes"), ("from ctypes import CDLL", "ctypes"),
    ("import subprocess", "subprocess"), ("import signal", "signal"), ("import importlib", "importlib"),
    ("import builtins", "builtins"), ("value = __builtins__", "__builtins__"),
    ("import sys\nsys.modules['torch'] = None", "sys.modules"), ("import os\nos.kill(1, 9)", "os.kill"),
    ("import os\nos.killpg(1, 9)", "os.killpg"), ("import os\nos.setsid()", "os.setsid"),
    ("import os\nos.setpgid(0, 0)", "os.setpgid"), ("import os\nos.fork()", "os.fork"),
    ("import os\nos._exit(3)", "os._exit"), ("import os\nos.dup2(1, 2)", "os.dup2"),
    ("import os\nos.fdopen(3)", "os.fdopen"), ("import os\nos.open('f', 0)", "os.open"),
    ("import os\nos.read(0, 1)", "os.read"), ("import inspect\ninspect.stack()", "inspect.stack"),
    ("import os as o\no.write(1, b'')", "os.write"), ("path = '/proc/self/maps'", "/proc"),
    # names built at run time
    ("import sys\nframe = getattr(sys, '_get' + 'frame')(0)", "getattr with a computed name"),
    ("module = __import__('g' + 'c')", "__import__"), ("eval('1 + 1')", "eval()"),
    ("exec(compile('x = 1', 'f', 'exec'))", "exec()/compile()"), ("namespace = globals()", "globals()"),
    ("def f():\n    pass\ncode = f.__code__", "__code__"),
    ("def f(a=1):\n    pass\nd = f.__defaults__", "__defaults__"),
    ("import torch\nsetattr(torch, 'all' + 'close', len)", "setattr with a computed name"),
    ("def f():\n    pass\nc = getattr(f, '__closure__')", "getattr __closure__"),
    ("name = 'instructor.tasks.probe_1b'", "a name of the grader's code"),
    ("import sys\nprobe = sys.modules.get('instr' + 'uctor')", "sys.modules"),
    ("import instructor.tasks.probe_1b as p", "an import of the grader's code"),
    ("from solution import train", "an import of the grader's code"),
])
def test_review_flags_find_introspection_and_process_tricks(tmp_path, code, label):
    review = extract(write_notebook(tmp_path, "md:# Sheet", code)).review
    assert any(entry.startswith(f"{label}, cell 2 line ") for entry in review), review


@pytest.mark.parametrize("code", ["import os\nfolder = os.path.join('a', 'b')", "signal = 1\nsignal.real",
                                  "import torch\nmodules = model.modules()", "import sys\nprint(sys.version)"])
def test_ordinary_code_is_not_flagged(tmp_path, code):
    assert extract(write_notebook(tmp_path, code)).review == ()


def test_review_flags_in_a_python_file_name_the_line_and_are_capped(tmp_path):
    text = "import os\n\n\nimport socket\n" + "".join(f"frame{i} = sys._getframe({i})\n" for i in range(30))
    review = extract(write_text(tmp_path, "tricks.py", text)).review
    assert review[0] == "socket, line 4"
    assert review[1] == "sys._getframe, line 5"
    assert len(review) == MAX_REVIEW_FLAGS


# --------------------------------------------------------------------- reference and speed


def test_reference_code_keeps_its_shape():
    imports, definitions = reference_code(SOLUTION)
    assert "import torch" in imports and not any("__future__" in i for i in imports)
    assert set(definitions) >= {"SimpleFixedMLP", "SimpleMLP", "train", "compute_accuracy"}
    assert definitions["train"].startswith("def train(")


def test_extracting_in_the_budgeted_reader_costs_no_more_than_in_process():
    from instructor.grading.extraction import extract_in_process

    assert extract(NOTEBOOK) == extract_in_process(NOTEBOOK)
    timings = {}
    for _ in range(2):  # alternated, so that the shared machine's drift hits both alike
        for function in (extract, extract_in_process):
            start = time.perf_counter()
            for _ in range(5):
                function(NOTEBOOK)
            timings[function] = min(timings.get(function, float("inf")), time.perf_counter() - start)
    assert timings[extract] < 2 * timings[extract_in_process]


def magic_cell_notebook(folder: Path, line: str, name: str) -> Path:
    """A notebook whose first cell repeats ``line`` 520 times (190,000 characters), then a 3a answer."""
    return write_notebook(folder, "\n".join([line.ljust(365, "x")] * 520),
                          "def compute_accuracy(model, loader):\n    return 1.0", name=name)


@pytest.mark.parametrize("magic", ["!ls ", "%ls ", "mK = %ls ", "out = !ls "])
def test_a_cell_of_hundreds_of_magic_lines_costs_no_more_than_plain_code(tmp_path, magic):
    """IPython's transformer re-reads the cell for each line it rewrites: such a cell is skipped whole."""
    magic_path = magic_cell_notebook(tmp_path, magic, "magic.ipynb")
    plain_path = magic_cell_notebook(tmp_path, "mK = 'ls' # ", "plain.ipynb")
    extract(plain_path)
    start = time.perf_counter()
    tasks = extract(magic_path).tasks
    magic_seconds = time.perf_counter() - start
    start = time.perf_counter()
    extract(plain_path)
    plain_seconds = time.perf_counter() - start
    # IPython's transformer needs minutes on such a cell; parsing the plain one takes a fraction of a second
    assert magic_seconds < 5 * plain_seconds + 0.5
    assert tasks["3a"].kind == "definition"


def test_a_file_that_reads_too_slowly_gets_a_reason_and_the_next_one_is_read(tmp_path):
    """The budget holds whatever makes reading slow: here 100,000 cell markers, which jupytext reads slowly."""
    slow = write_text(tmp_path, "markers.py", "# %%\n" * 100_000
                      + "def compute_accuracy(model, loader):\n    return 1.0\n")
    budget_s = 0.5
    start = time.perf_counter()
    with pytest.raises(SubmissionError, match=r"markers.py: reading the file took more than 0.5 s"):
        extract(slow, timeout_s=budget_s)
    stopped_after = time.perf_counter() - start
    honest_start = time.perf_counter()
    assert extract(NOTEBOOK).tasks["3a"].kind == "definition"
    honest_seconds = time.perf_counter() - honest_start
    # stopped at the budget, not at the end of reading (tens of seconds); a fresh reader starts at once
    assert stopped_after < 4 * budget_s + 2 * honest_seconds


def test_a_file_name_holding_newlines_is_read_as_itself_and_the_next_file_too(tmp_path):
    """The budgeted reader gets each path whole: a newline in a name must not shift the answers."""
    odd = write_notebook(tmp_path, "def compute_accuracy(model, loader):\n    return 1.0",
                         name="alice\nbob.ipynb")
    plain = write_notebook(tmp_path, "def train(model, loader):\n    return []", name="carol.ipynb")
    assert extract(odd).tasks["3a"].kind == "definition" and extract(odd).tasks["2a"].kind == "missing"
    assert extract(plain).tasks["2a"].kind == "definition" and extract(plain).tasks["3a"].kind == "missing"
