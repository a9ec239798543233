"""Correct submissions in the shapes students really hand in, and a check that they are correct.

Every shape is built from the reference notebook (read with nbformat, code
cells edited, then written in one of the formats students submit): a plot in
the 2b cell, a global ``device``, helpers and constants in cells of their
own, import aliases, IPython magics, a wrong first attempt redefined later,
Colab-only lines, outputs of an executed notebook, notebooks saved by Colab
or VS Code, jupytext and Colab ``.py`` exports, a plain module. Each one
still answers every task correctly, so a fair grader gives it 100/100.

``check_submission`` is the proof of that claim, independent of the grader:
it runs the submission's code the way Jupyter would (IPython's own input
transformer turns magics into calls of a stand-in shell), on small synthetic
MNIST-shaped data instead of MNIST, and then checks the definitions it left
with the self-checks of ``self_checks.py`` and against ``solution.py``.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import math
import re
import sys
import textwrap
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import torch
from notebook_edits import region_replaced
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from instructor.solution_regions import find_regions

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SOLUTION = PROJECT_ROOT / "solution.py"

Edit = Callable[[nbformat.NotebookNode], None]

# --------------------------------------------------------------------- locating and editing cells

# a text that occurs in exactly one code cell of the reference notebook, per cell
SETUP_CELL = "train_loader = DataLoader(train_set"
MLP_CELL = "class SimpleMLP"
TRAIN_CELL = "def train("
TRAINING_2B_CELL = "### BEGIN SOLUTION 2b"
CHECK_2B_CELL = "check_task_2b("
ACCURACY_CELL = "def compute_accuracy("
PER_CLASS_CELL = "def compute_accuracy_per_class("


def cell_index(notebook: nbformat.NotebookNode, marker: str) -> int:
    """Index of the last code cell containing ``marker`` (the one a notebook run leaves defined)."""
    found = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and marker in cell.source]
    if not found:
        raise AssertionError(f"no code cell contains {marker!r}")
    return found[-1]


def cell(notebook: nbformat.NotebookNode, marker: str) -> nbformat.NotebookNode:
    return notebook.cells[cell_index(notebook, marker)]


def replace(notebook: nbformat.NotebookNode, marker: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur) by ``new`` in the cell holding ``marker``."""
    target = cell(notebook, marker)
    if old not in target.source:
        raise AssertionError(f"the cell with {marker!r} does not contain {old!r}")
    target.source = target.source.replace(old, new)


def set_region(notebook: nbformat.NotebookNode, task: str, body: str, occurrence: int = 0) -> None:
    """Replace the body of the ``occurrence``-th solution region of ``task`` in the last cell holding one."""
    holders = [c for c in notebook.cells if c.cell_type == "code"
               and len([r for r in find_regions(c.source) if r.task == task]) > occurrence]
    if not holders:
        raise AssertionError(f"no code cell has region {occurrence} of task {task}")
    holders[-1].source = region_replaced(holders[-1].source, task, body, occurrence)


def insert_cell(notebook: nbformat.NotebookNode, index: int, source: str, outputs: list | None = None,
                execution_count: int | None = None) -> None:
    new = nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"))
    new.outputs = outputs or []
    new.execution_count = execution_count
    notebook.cells.insert(index, new)


def first_code_index(notebook: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")


# --------------------------------------------------------------------- outputs of an executed notebook

# a 1x1 PNG: figures are display_data outputs with an image/png and a text/plain entry
PNG_1X1 = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5b1d86a0000000049454e44ae426082")).decode()


def stream(text: str, name: str = "stdout") -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name=name, text=text)


def figure_output(size: str = "1000x600") -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"image/png": PNG_1X1,
                                                        "text/plain": f"<Figure size {size} with 1 Axes>"})


# --------------------------------------------------------------------- the edits of the shapes

PLOT_IMPORT = "import matplotlib.pyplot as plt\n\n"
PLOT_LOSSES = """

plt.figure(figsize=(10, 6))
for i, model_losses in enumerate(losses):
    plt.plot(model_losses, label=f"Model {i + 1}")
plt.xlabel("Iteration")
plt.ylabel("Training loss")
plt.legend()
plt.show()"""


def plot_in_2b(notebook):
    """As the original sheet's cell did: pyplot imported in the 2b cell, the losses plotted, plt.show()."""
    target = cell(notebook, TRAINING_2B_CELL)
    target.source = PLOT_IMPORT + target.source + PLOT_LOSSES
    target.outputs.append(figure_output())


DEVICE_LINE = 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")'


def device_global(notebook):
    """A global ``device`` in the first code cell; train, compute_accuracy and 3b use it instead of model_device."""
    replace(notebook, SETUP_CELL, "seed_everything(0)\n",
            f"seed_everything(0)\n\n{DEVICE_LINE}\nprint(\"Using device:\", device)\n")
    cell(notebook, SETUP_CELL).outputs.insert(0, stream("Using device: cuda\n"))
    for marker in (TRAIN_CELL, ACCURACY_CELL, PER_CLASS_CELL):
        replace(notebook, marker, "    device = model_device(model)\n", "")
    replace(notebook, TRAINING_2B_CELL, "SimpleMLP(dims=[28 * 28, 32, 10])",
            "SimpleMLP(dims=[28 * 28, 32, 10]).to(device)")


FLATTEN_HELPER = '''
def flatten_batch(x: torch.Tensor) -> torch.Tensor:
    """(BS x ...) -> (BS x features): one row per sample."""
    return x.reshape(x.shape[0], -1)
'''
N_CORRECT_HELPER = '''
def n_correct(logits: torch.Tensor, labels: torch.Tensor) -> int:
    """How many samples have their largest logit at the index of their label."""
    return (logits.argmax(dim=1) == labels).sum().item()
'''


def helper_functions(notebook):
    """``flatten_batch`` in a cell of its own, used by SimpleMLP.forward; ``n_correct`` used by compute_accuracy."""
    insert_cell(notebook, cell_index(notebook, MLP_CELL), FLATTEN_HELPER)
    replace(notebook, MLP_CELL, "out = self.flatten(input)", "out = flatten_batch(input)")
    insert_cell(notebook, cell_index(notebook, ACCURACY_CELL), N_CORRECT_HELPER)
    replace(notebook, ACCURACY_CELL,
            "predicted = model(batch).argmax(dim=1)\n"
            "            n_correctly_classified += (predicted == labels).sum().item()",
            "n_correctly_classified += n_correct(model(batch), labels)")


def constants(notebook):
    """``N_CLASSES = 10`` and ``LEARNING_RATE = 0.04`` in a cell of their own, used by 3b and 2b."""
    insert_cell(notebook, cell_index(notebook, SETUP_CELL) + 1,
                "# hyperparameters of this sheet\nN_CLASSES = 10\nLEARNING_RATE = 0.04\n")
    replace(notebook, PER_CLASS_CELL, "n_classes = len(MNIST_CLASSES)", "n_classes = N_CLASSES")
    replace(notebook, PER_CLASS_CELL, "for c in MNIST_CLASSES}", "for c in range(N_CLASSES)}")
    replace(notebook, TRAINING_2B_CELL, "lr=0.04", "lr=LEARNING_RATE")


ALIAS_IMPORTS = ("import numpy as np\nimport torch\nimport torch.nn as tnn\nimport torch.nn.functional as F\n"
                 "from torch import optim\n")
ALIAS_MLP_INIT = """
self.flatten = tnn.Flatten()
self.layers = tnn.ModuleList([tnn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1)])
"""
ALIAS_MLP_FORWARD = """
out = self.flatten(input)
for layer in self.layers[:-1]:
    out = F.relu(layer(out))
return self.layers[-1](out)
"""
NUMPY_PER_CLASS = """
device = model_device(model)
was_training = model.training
model.eval()
n_classes = len(MNIST_CLASSES)
n_correct = np.zeros(n_classes, dtype=np.int64)
n_samples = np.zeros(n_classes, dtype=np.int64)
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch.to(device)).argmax(dim=1).cpu().numpy()
        labels = labels.numpy()
        np.add.at(n_samples, labels, 1)
        np.add.at(n_correct, labels[predicted == labels], 1)
model.train(was_training)
return {c: float(n_correct[c] / n_samples[c]) if n_samples[c] > 0 else float("nan")
        for c in MNIST_CLASSES}
"""


def import_aliases(notebook):
    """``torch.nn as tnn`` and ``F.relu`` in SimpleMLP, ``numpy as np`` in 3b, ``optim.Adam`` in 2b."""
    replace(notebook, SETUP_CELL, "import torch\n", ALIAS_IMPORTS)
    set_region(notebook, "1a", ALIAS_MLP_INIT, 0)
    set_region(notebook, "1a", ALIAS_MLP_FORWARD, 1)
    set_region(notebook, "3b", NUMPY_PER_CLASS)
    replace(notebook, TRAINING_2B_CELL, "torch.optim.Adam(", "optim.Adam(")


def magics(notebook, cell_magic: bool = True):
    """``!pip install tqdm`` and autoreload in cells of their own, ``%matplotlib inline``, ``%%time`` atop 2b."""
    start = first_code_index(notebook)
    insert_cell(notebook, start, "%load_ext autoreload\n%autoreload 2\n")
    insert_cell(notebook, start, "!pip install tqdm\n", [stream(
        "Requirement already satisfied: tqdm in /usr/local/lib/python3.10/dist-packages (4.66.1)\n")])
    target = cell(notebook, SETUP_CELL)
    target.source = "%matplotlib inline\n" + target.source
    if cell_magic:
        target = cell(notebook, TRAINING_2B_CELL)
        target.source = "%%time\n" + target.source
        target.outputs.append(stream("CPU times: user 2min 3s, sys: 1.41 s, total: 2min 4s\nWall time: 2min 9s\n"))


def line_magics(notebook):
    """``!pip install tqdm``, autoreload and ``%matplotlib inline``, but no cell magic."""
    magics(notebook, cell_magic=False)


WRONG_TRAIN_STEP = """
predictions = model(batch)
loss = loss_fn(predictions, labels)
loss.backward()
optimizer.step()
losses.append(loss)
"""
WRONG_ACCURACY = """
predicted = model(batch).argmax(dim=1)
n_correctly_classified += (predicted == labels).float().mean().item()
n_samples += 1
"""
FAILED_CHECK_OUTPUT = "Task {task} self-check: 1 of 4 checks passed.\n  \u2717 ...\n"


def redefined_after_wrong_attempt(notebook):
    """A wrong ``train`` and ``compute_accuracy`` in cells of their own; the right ones follow in later cells."""
    for marker, task, wrong, check in ((TRAIN_CELL, "2a", WRONG_TRAIN_STEP, "check_task_2a(train)"),
                                       (ACCURACY_CELL, "3a", WRONG_ACCURACY, "check_task_3a(compute_accuracy)")):
        index = cell_index(notebook, marker)
        attempt = copy.deepcopy(notebook.cells[index])
        attempt.id = nbformat.v4.new_code_cell().id
        notebook.cells.insert(index, attempt)
        insert_cell(notebook, index + 1, check, [stream(FAILED_CHECK_OUTPUT.format(task=task))])
        attempt.source = region_replaced(attempt.source, task, wrong)


COLAB_DRIVE = """
from google.colab import drive
drive.mount('/content/drive')
"""
COLAB_PATH = """
import sys
sys.path.append('/content/drive/MyDrive/DL/Ex4')
%cd /content/drive/MyDrive/DL/Ex4
"""


def colab_drive(notebook):
    """Colab-only lines: Google Drive mounted, the sheet's folder on sys.path and the working directory."""
    start = first_code_index(notebook)
    insert_cell(notebook, start, COLAB_PATH, [stream("/content/drive/MyDrive/DL/Ex4\n")])
    insert_cell(notebook, start, COLAB_DRIVE, [stream("Mounted at /content/drive\n")])


COLAB_BADGE = ('<a href="https://colab.research.google.com/github/dl-course/ex4/blob/main/Ex4_Optimization2.ipynb" '
               'target="_parent"><img src="https://colab.research.google.com/assets/colab-badge.svg" '
               'alt="Open In Colab"/></a>')


def colab_badge(notebook):
    """The "Open in Colab" badge cell Colab adds when a notebook is opened from GitHub."""
    badge = nbformat.v4.new_markdown_cell(COLAB_BADGE)
    badge.metadata.update({"id": "view-in-github", "colab_type": "text"})
    notebook.cells.insert(0, badge)


def executed_out_of_order(notebook):
    """Outputs as a real session leaves them: counts out of order, stale errors, progress bars, results."""
    counts = iter([3, 4, 5, 6, 7, 12, 13, 8, 9, 10, 11, 17, 18, 19, 14, 15, 16, 22, 23, 24, 25, 26, 27, 28])
    for code_cell in (c for c in notebook.cells if c.cell_type == "code"):
        code_cell.execution_count = next(counts, None)
        code_cell.metadata.update({"scrolled": True, "tags": []})
    cell(notebook, TRAINING_2B_CELL).outputs.insert(0, stream(
        "Epoch 1/1:  43%|####3     | 813/1875 [00:05<00:07, 140.21it/s]\r"
        "Epoch 1/1:  87%|########6 | 1626/1875 [00:11<00:01, 141.02it/s]\r", name="stderr"))
    cell(notebook, CHECK_2B_CELL).outputs[:] = [nbformat.v4.new_output(
        "error", ename="NameError", evalue="name 'optimizers' is not defined",
        traceback=["\x1b[0;31mNameError\x1b[0m: name 'optimizers' is not defined"])]
    insert_cell(notebook, cell_index(notebook, CHECK_2B_CELL) + 1, "losses[0][-1], len(losses[0])",
                [nbformat.v4.new_output("execute_result", data={"text/plain": "(0.2113, 1875)"},
                                        execution_count=21)], execution_count=21)


def evaluate_after_training(notebook):
    """``print(compute_accuracy(model, test_loader))`` after each model's training in the 2b cell.

    compute_accuracy's cell is moved above the 2b cell, as it must be for the
    notebook to run from top to bottom.
    """
    accuracy = notebook.cells.pop(cell_index(notebook, ACCURACY_CELL))
    notebook.cells.insert(cell_index(notebook, TRAINING_2B_CELL), accuracy)
    set_region(notebook, "2b", """
        optimizers.append(torch.optim.Adam(model.parameters(), lr=0.04))
        losses.append(train(model, train_loader, optimizers[-1], loss_fn, n_epochs=1))
        print(compute_accuracy(model, test_loader))
        """)


def recreated_train_loader(notebook):
    """``train_loader = DataLoader(train_set, batch_size=32, shuffle=True)`` in a cell of its own before 2b."""
    insert_cell(notebook, cell_index(notebook, TRAINING_2B_CELL),
                "train_loader = DataLoader(train_set, batch_size=32, shuffle=True)\n")


PRIVATE_PLOT = "\n\nfrom course_plots import plot_losses\nplot_losses(losses)"


def plots_with_private_module(notebook):
    """The 2b cell plots with ``course_plots``, a module the grading machine has, not the sheet."""
    target = cell(notebook, TRAINING_2B_CELL)
    target.source += PRIVATE_PLOT
    target.outputs.append(figure_output())


# --------------------------------------------------------------------- writers: notebook -> file text


def as_ipynb(notebook) -> tuple[str, str]:
    return ".ipynb", nbformat.writes(notebook)


def _cell_id(index: int, salt: str) -> str:
    """A stable 12-character id in the alphabet Colab uses."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    number = (index * 7919 + sum(map(ord, salt))) * 2654435761
    return "".join(alphabet[(number >> (6 * k)) % 64] for k in range(12))


def as_colab_ipynb(notebook) -> tuple[str, str]:
    """Saved by Colab: nbformat_minor 0, no cell ``id`` field but ``metadata.id``, colab metadata, GPU."""
    data = json.loads(nbformat.writes(notebook))
    data["nbformat_minor"] = 0
    data["metadata"] = {"colab": {"provenance": [], "gpuType": "T4", "toc_visible": True},
                        "kernelspec": {"name": "python3", "display_name": "Python 3"},
                        "language_info": {"name": "python"}, "accelerator": "GPU"}
    for index, entry in enumerate(data["cells"]):
        entry.pop("id", None)
        metadata = {"id": _cell_id(index, "colab")} if "id" not in entry["metadata"] else {}
        metadata.update(entry["metadata"])
        metadata.pop("execution", None)
        if entry["cell_type"] == "code" and entry["outputs"]:
            metadata["colab"] = {"base_uri": "https://localhost:8080/", "height": 449}
            metadata["outputId"] = f"{index:08x}-3f1c-4e2a-9b7d-5c2e8a1f0d{index:02x}"
        entry["metadata"] = metadata
    ordered = {"nbformat": 4, "nbformat_minor": 0, "metadata": data["metadata"], "cells": data["cells"]}
    return ".ipynb", json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def as_vscode_ipynb(notebook) -> tuple[str, str]:
    """Saved by VS Code: every cell ``source`` one string, cell ids, a venv kernel, vscode metadata."""
    data = json.loads(nbformat.writes(notebook))
    data["nbformat_minor"] = 5
    data["metadata"] = {"kernelspec": {"display_name": ".venv", "language": "python", "name": "python3"},
                        "language_info": {"codemirror_mode": {"name": "ipython", "version": 3},
                                          "file_extension": ".py", "mimetype": "text/x-python",
                                          "name": "python", "nbconvert_exporter": "python",
                                          "pygments_lexer": "ipython3", "version": "3.11.7"},
                        "vscode": {"interpreter": {"hash": "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"}}}
    for index, entry in enumerate(data["cells"]):
        entry["id"] = entry.get("id") or _cell_id(index, "vscode")
        entry["source"] = "".join(entry["source"]) if isinstance(entry["source"], list) else entry["source"]
        for output in entry.get("outputs", []):
            if isinstance(output.get("text"), list):
                output["text"] = "".join(output["text"])
    return ".ipynb", json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def as_jupytext(fmt: str) -> Callable[[nbformat.NotebookNode], tuple[str, str]]:
    def write(notebook) -> tuple[str, str]:
        import jupytext

        return ".py", jupytext.writes(notebook, fmt=fmt)

    write.__doc__ = f"jupytext.writes(notebook, fmt={fmt!r})"
    return write


_LINE_MAGIC = re.compile(r"^\s*%(?!%)")


def as_colab_py(notebook) -> tuple[str, str]:
    """Colab's File > Download > Download .py, written the way Colab writes it.

    A header docstring "Automatically generated by Colab." that also holds
    the leading markdown cells; every later markdown cell a triple-quoted
    string literal; a code cell with line magics gets the comment "Commented
    out IPython magic to ensure Python compatibility." and its ``%`` lines
    commented out; ``!`` shell lines are kept as they are. (A cell magic such
    as ``%%time`` makes Colab comment out the whole cell, code and all, so a
    submission exported that way has lost that cell's code; the shapes
    exported with this writer use no cell magic.)
    """
    cells = list(notebook.cells)
    header = []
    while cells and cells[0].cell_type == "markdown":
        header.append(cells.pop(0).source.strip())
    parts = ["# -*- coding: utf-8 -*-\n" + '"""Ex4_Optimization2.ipynb\n\nAutomatically generated by Colab.\n\n'
             "Original file is located at\n    https://colab.research.google.com/drive/1Qx7vB3nT5kLm9pRz2YwE8uHc4dFgJ6sA"
             + "".join(f"\n\n{text}" for text in header) + '\n"""']
    for entry in cells:
        if entry.cell_type == "markdown":
            parts.append(f'"""{entry.source.strip()}"""')
        elif entry.cell_type == "code":
            lines = entry.source.splitlines()
            if any(line.startswith("%%") for line in lines[:1]):
                raise ValueError("Colab comments out a whole cell with a cell magic; do not export one")
            if any(_LINE_MAGIC.match(line) for line in lines):
                lines = ["# Commented out IPython magic to ensure Python compatibility."] + [
                    "# " + line.lstrip() if _LINE_MAGIC.match(line) else line for line in lines]
            parts.append("\n".join(lines))
    return ".py", "\n\n".join(parts) + "\n\n"


# --------------------------------------------------------------------- the shapes


@dataclass(frozen=True)
class Shape:
    name: str
    edits: tuple[Edit, ...] = ()
    write: Callable[[nbformat.NotebookNode], tuple[str, str]] = as_ipynb
    # a module's whole text instead of an edited notebook
    module_text: Callable[[], str] | None = None

    @property
    def description(self) -> str:
        parts = [(e.__doc__ or e.__name__).strip().splitlines()[0] for e in self.edits]
        if self.module_text is not None:
            parts.append((self.module_text.__doc__ or "").strip().splitlines()[0])
        elif self.write is not as_ipynb:
            parts.append((self.write.__doc__ or "").strip().splitlines()[0])
        return "; ".join(parts)


def plain_module_text() -> str:
    """A plain module defining the names of solution.py, without solution markers, with a main block."""
    source = SOLUTION.read_text(encoding="utf-8")
    source = "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                       and "### END SOLUTION" not in line)
    source = source.replace('"""Reference solution of Exercise Sheet 4 - Optimization 2.',
                            '"""My solution of Exercise Sheet 4 - Optimization 2.', 1)
    return source + '''

if __name__ == "__main__":
    from torchvision import datasets
    from torchvision.transforms import ToTensor

    train_set = datasets.MNIST(root="data", download=True, transform=ToTensor())
    train_loader = DataLoader(train_set, batch_size=32, shuffle=False)
    models = [SimpleMLP(dims=[28 * 28, 32, 10]) for _ in range(10)]
    optimizers, losses = train_models(models, train_loader, nn.CrossEntropyLoss())
    print([round(model_losses[-1], 4) for model_losses in losses])
'''


def device_if_with_prints(notebook):
    """``device`` chosen in an if/else that also prints which device is used (a very common cell)."""
    replace(notebook, SETUP_CELL, "seed_everything(0)\n", 'seed_everything(0)\n\nif torch.cuda.is_available():\n'
            '    device = torch.device("cuda")\n    print("Training on the GPU")\nelse:\n'
            '    device = torch.device("cpu")\n    print("Training on the CPU")\n')
    for marker in (TRAIN_CELL, ACCURACY_CELL):
        replace(notebook, marker, "    device = model_device(model)\n", "")


def uses_example_batch(notebook):
    """The 1b cell tries its models on ``batch`` from the given setup loop, and shows one with display()."""
    target = cell(notebook, "### BEGIN SOLUTION 1b")
    target.source += "\nprint(model1(batch).shape, model2(batch).shape, model3(batch).shape)\ndisplay(model3)"


def smoothed_plot_in_2b(notebook):
    """The sheet's own plot of the smoothed losses, moved into the 2b cell after the training."""
    target = cell(notebook, TRAINING_2B_CELL)
    target.source += "\nfig = plot_smoothed_losses(losses, window=25)"


def extra_models_and_options(notebook):
    """Test models built after 1a and after 2b; ``train`` with an option of the student's own in 2b."""
    insert_cell(notebook, cell_index(notebook, MLP_CELL) + 1,
                "probe_a = SimpleMLP([28 * 28, 16, 10])\nprobe_b = SimpleMLP([4, 3])")
    replace(notebook, TRAIN_CELL, "          show_progress: bool = True) -> list[float]:",
            "          show_progress: bool = True, print_every: int = 0) -> list[float]:")
    replace(notebook, TRAINING_2B_CELL, "n_epochs=N_EPOCHS_2B)", "n_epochs=N_EPOCHS_2B, print_every=100)")
    insert_cell(notebook, cell_index(notebook, TRAINING_2B_CELL) + 1,
                "bonus_models = [SimpleMLP([28 * 28, 64, 10]) for _ in range(3)]\nLEARNING_RATE = 0.001")


def training_after_markdown(notebook):
    """The 2b cell creates the optimizers; a markdown note; the training loop in the next code cell."""
    index = cell_index(notebook, TRAINING_2B_CELL)
    source = notebook.cells[index].source
    head, loop = source.split("losses = []\n", 1)
    notebook.cells[index].source = head + "### END SOLUTION 2b"
    loop = loop.replace("### END SOLUTION 2b", "").rstrip()
    notebook.cells.insert(index + 1, nbformat.v4.new_markdown_cell("Now train every model for one epoch."))
    insert_cell(notebook, index + 2, "losses = []\n" + loop)


def _shapes() -> dict[str, Shape]:
    shapes = [
        Shape("plot_in_2b", (plot_in_2b,)),
        Shape("device_global", (device_global,)),
        Shape("helper_functions", (helper_functions,)),
        Shape("constants_in_own_cell", (constants,)),
        Shape("import_aliases", (import_aliases,)),
        Shape("magics", (magics,)),
        Shape("redefined_after_wrong_attempt", (redefined_after_wrong_attempt,)),
        Shape("colab_drive", (colab_drive,)),
        Shape("executed_out_of_order", (executed_out_of_order,)),
        Shape("saved_by_colab", (colab_badge,), as_colab_ipynb),
        Shape("saved_by_vscode", (), as_vscode_ipynb),
        Shape("jupytext_percent", (), as_jupytext("py:percent")),
        Shape("jupytext_light", (), as_jupytext("py:light")),
        Shape("colab_download_py", (colab_drive, line_magics), as_colab_py),
        Shape("plain_module", module_text=plain_module_text),
        Shape("evaluate_after_training", (evaluate_after_training,)),
        Shape("recreated_train_loader", (recreated_train_loader,)),
        Shape("device_if_with_prints", (device_if_with_prints,)),
        Shape("uses_example_batch", (uses_example_batch,)),
        Shape("smoothed_plot_in_2b", (smoothed_plot_in_2b,)),
        Shape("extra_models_and_options", (extra_models_and_options,)),
        Shape("training_after_markdown", (training_after_markdown,)),
        # all at once, as one student's Colab notebook would have them
        Shape("everything_in_colab", (colab_badge, colab_drive, import_aliases, helper_functions, constants,
                                      device_global, plot_in_2b, magics, recreated_train_loader,
                                      executed_out_of_order, redefined_after_wrong_attempt), as_colab_ipynb),
    ]
    return {shape.name: shape for shape in shapes}


SHAPES = _shapes()


def reference_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def build(shape: Shape, extra_edits: tuple[Edit, ...] = (),
          reference: nbformat.NotebookNode | None = None) -> tuple[str, str]:
    """The suffix and text of ``shape``'s file, with ``extra_edits`` applied after the shape's own."""
    if shape.module_text is not None:
        if extra_edits:
            raise ValueError(f"{shape.name} is not built from the notebook; it takes no notebook edits")
        return ".py", shape.module_text()
    notebook = copy.deepcopy(reference if reference is not None else reference_notebook())
    for edit in (*shape.edits, *extra_edits):
        edit(notebook)
    return shape.write(notebook)


def write(shape: Shape, folder: Path, name: str | None = None, extra_edits: tuple[Edit, ...] = (),
          reference: nbformat.NotebookNode | None = None) -> Path:
    suffix, text = build(shape, extra_edits, reference)
    path = folder / f"{name or shape.name}{suffix}"
    path.write_text(text, encoding="utf-8", newline="")
    return path


# --------------------------------------------------------------------- running a submission on toy data

TOY_TRAIN_SAMPLES = 960  # 30 batches of 32: enough for plot_smoothed_losses' window of 25
TOY_TEST_SAMPLES = 200
TOY_SEED = 4


class ToyMNIST(TensorDataset):
    """Stands in for torchvision's MNIST: learnable 1x28x28 images (one template per class), int labels."""

    def __init__(self, root=None, train: bool = True, download: bool = False, transform=None, **kwargs):
        generator = torch.Generator().manual_seed(TOY_SEED + (0 if train else 1))
        templates = (torch.rand((10, 1, 28, 28), generator=torch.Generator().manual_seed(TOY_SEED)) > 0.7).float()
        n = TOY_TRAIN_SAMPLES if train else TOY_TEST_SAMPLES
        labels = torch.randint(10, (n,), generator=generator)
        images = (0.7 * templates[labels] + 0.3 * torch.rand((n, 1, 28, 28), generator=generator)).clamp(0, 1)
        super().__init__(images, labels)
        self.train = train


class StandInShell:
    """What ``get_ipython()`` returns while a submission runs: magics as Jupyter would treat them.

    ``%%time`` and ``%%capture`` run their cell; every other magic and shell
    command is recorded and does nothing (no package is installed, no folder changed).
    """

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.calls: list[str] = []

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1):
        self.calls.append(f"%{name} {line}")

    def run_cell_magic(self, name: str, line: str, cell_source: str):
        self.calls.append(f"%%{name} {line}")
        if name not in ("time", "capture"):
            raise NotImplementedError(f"cell magic %%{name}")
        run_source(cell_source, self.namespace, "<cell magic>")

    def system(self, command: str):
        self.calls.append(f"!{command}")

    getoutput = system


def run_source(source: str, namespace: dict, filename: str) -> None:
    """Execute ``source`` as IPython would: magics and ``!`` lines through ``get_ipython()``."""
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "invalid escape sequence" in markdown strings, Agg's plt.show()
        exec(compile(python, filename, "exec"), namespace)


def code_chunks(path: Path) -> list[str]:
    """What Jupyter or Python would run: each code cell of a notebook, or the whole script."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return [text]
    cells = json.loads(text)["cells"]
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in cells if c["cell_type"] == "code"]


def fake_colab_modules() -> dict[str, types.ModuleType]:
    """``google.colab`` with a ``drive.mount`` that mounts nothing, for code written on Colab."""
    drive = types.ModuleType("google.colab.drive")
    drive.mount = lambda mountpoint, **kwargs: print(f"Mounted at {mountpoint}")
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    modules = {"google.colab": colab, "google.colab.drive": drive}
    try:
        import google
        google.colab = colab  # noqa: B010 -- removed with the stand-ins (see run_submission)
    except ImportError:
        google = types.ModuleType("google")
        google.__path__ = []
        google.colab = colab
        modules["google"] = google
    return modules


def run_submission(path: Path, as_module: bool = False) -> dict:
    """Run the submission on toy data in a fresh namespace and return it.

    Notebooks and scripts run as ``__main__``, cell after cell; with
    ``as_module`` the file runs like an import (``__name__`` is not ``"__main__"``). torchvision's
    MNIST is replaced by ``ToyMNIST`` and ``ensure_mnist`` does nothing;
    ``sys.path``, the working directory and ``sys.modules`` are restored afterwards.
    """
    import matplotlib.pyplot as plt
    import torchvision.datasets

    from ex4 import mnist_data

    namespace: dict = {"__name__": "student_module" if as_module else "__main__", "__builtins__": __builtins__}
    shell = StandInShell(namespace)
    namespace["get_ipython"] = lambda: shell
    namespace["display"] = lambda *objects, **options: None
    saved_path, saved_modules = list(sys.path), dict(sys.modules)
    patches = [(torchvision.datasets, "MNIST", ToyMNIST), (mnist_data, "ensure_mnist", lambda root="data": None)]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    colab = fake_colab_modules()
    google = sys.modules.get("google")
    try:
        for module, name, value in patches:
            setattr(module, name, value)
        sys.modules.update(colab)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for index, source in enumerate(code_chunks(path)):
                run_source(source, namespace, f"<{path.name} cell {index + 1}>")
    finally:
        for module, name, value in originals:
            setattr(module, name, value)
        if google is not None and getattr(google, "colab", None) is colab["google.colab"]:
            del google.colab
        sys.path[:] = saved_path
        for name in set(sys.modules) - set(saved_modules):
            if name.startswith("google") or name == "course_plots":
                del sys.modules[name]
        plt.close("all")
    return namespace


# --------------------------------------------------------------------- is it correct?


def check_submission(path: Path, as_module: bool = False) -> list[str]:
    """Every way in which the submission at ``path`` is not a correct answer to all six tasks ([] if none).

    The self-checks of self_checks.py judge each task; train, compute_accuracy
    and compute_accuracy_per_class are also compared with solution.py's on
    seeded toy data (losses, final weights, accuracies, NaN for an absent class).
    """
    import solution
    from ex4 import self_checks

    namespace = run_submission(path, as_module)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if "build_equivalent_models" in namespace:
            model1, model2, model3 = namespace["build_equivalent_models"]()
            train_loader = DataLoader(ToyMNIST(), batch_size=32, shuffle=False)
            models = [namespace["SimpleMLP"](dims=[28 * 28, 32, 10]) for _ in range(10)]
            optimizers, losses = namespace["train_models"](models, train_loader, nn.CrossEntropyLoss())
        else:
            model1, model2, model3 = (namespace.get(name) for name in ("model1", "model2", "model3"))
            models, optimizers, losses, train_loader = (
                namespace.get(name) for name in ("models", "optimizers", "losses", "train_loader"))
        results = {
            "1a": self_checks.task_1a_results(namespace["SimpleMLP"]),
            "1b": self_checks.task_1b_results(model1, model2, model3),
            "2a": self_checks.task_2a_results(namespace["train"]),
            "2b": self_checks.task_2b_results(models, optimizers, losses, train_loader),
            "3a": self_checks.task_3a_results(namespace["compute_accuracy"]),
            "3b": self_checks.task_3b_results(namespace["compute_accuracy_per_class"]),
        }
    problems = [f"{task} self-check {r.name}: {r.message}" for task, rs in results.items() for r in rs
                if not r.passed]
    problems += _compare_with_solution(namespace, solution)
    return problems


def _toy_loader(n: int, batch: int, seed: int, classes: list[int] | None = None) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand((n, 1, 28, 28), generator=generator)
    pool = torch.tensor(classes if classes is not None else list(range(10)))
    labels = pool[torch.randint(len(pool), (n,), generator=generator)]
    return DataLoader(TensorDataset(images, labels), batch_size=batch, shuffle=False)


def _toy_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16), nn.ReLU(), nn.Linear(16, 10))


def _compare_mlp(mlp_class: type, solution) -> list[str]:
    """SimpleMLP given solution.SimpleMLP's weights (matched by shape) computes the same outputs."""
    from ex4.model_properties import MAX_PARAMETER_ORDERINGS, load_values, shape_matched_orderings

    problems = []
    for dims, sample_shape in (([20, 16, 8, 4, 3], (2, 2, 5)), ([28 * 28, 32, 10], (1, 28, 28))):
        torch.manual_seed(12)
        reference, model = solution.SimpleMLP(list(dims)), mlp_class(list(dims))
        values = [torch.randn(p.shape) / math.sqrt(p.shape[-1]) for p in reference.parameters()]
        load_values(reference, values, range(len(values)))
        inputs = torch.randn((6, *sample_shape))
        with torch.no_grad():
            expected = reference(inputs)
            try:
                orderings = shape_matched_orderings([tuple(p.shape) for p in model.parameters()],
                                                    [tuple(v.shape) for v in values], MAX_PARAMETER_ORDERINGS)
            except ValueError as exc:
                problems.append(f"1a: SimpleMLP({dims}): {exc}")
                continue
            for order in orderings:
                load_values(model, values, order)
                if torch.allclose(model(inputs), expected, atol=1e-5, rtol=1e-4):
                    break
            else:
                problems.append(f"1a: SimpleMLP({dims}) with solution.SimpleMLP's weights computes other outputs")
    return problems


def _compare_with_solution(namespace: dict, solution) -> list[str]:
    problems = _compare_mlp(namespace["SimpleMLP"], solution)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        runs = {}
        for who, train in (("submission", namespace["train"]), ("solution", solution.train)):
            model = _toy_model(7)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
            losses = train(model, _toy_loader(70, 16, 8), optimizer, loss_fn, 2)
            runs[who] = (losses, torch.cat([p.detach().flatten() for p in model.parameters()]))
    (got, got_weights), (expected, expected_weights) = runs["submission"], runs["solution"]
    if not (len(got) == len(expected) and all(isinstance(v, float) for v in got)
            and all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6) for a, b in zip(got, expected, strict=True))):
        problems.append(f"2a: train's losses {got[:3]}... differ from solution.train's {expected[:3]}...")
    if not torch.allclose(got_weights, expected_weights, atol=1e-5, rtol=1e-4):
        problems.append("2a: the weights after train differ from those after solution.train")
    model = _toy_model(9)
    for batch in (16, 7):
        loader = _toy_loader(45, batch, 10)
        got, expected = namespace["compute_accuracy"](model, loader), solution.compute_accuracy(model, loader)
        if not (isinstance(got, float) and math.isclose(got, expected, abs_tol=1e-9)):
            problems.append(f"3a: compute_accuracy gave {got!r}, solution {expected!r} (batch size {batch})")
    loader = _toy_loader(60, 16, 11, classes=[0, 1, 2, 4, 5, 6, 8, 9])
    got = namespace["compute_accuracy_per_class"](model, loader)
    expected = solution.compute_accuracy_per_class(model, loader)
    same = (isinstance(got, dict) and sorted(got) == list(range(10))
            and all(type(k) is int and isinstance(v, float) for k, v in got.items())
            and all((math.isnan(got[c]) and math.isnan(expected[c])) or math.isclose(got[c], expected[c])
                    for c in range(10)))
    if not same:
        problems.append(f"3b: compute_accuracy_per_class gave {got!r}, solution {expected!r}")
    return problems
