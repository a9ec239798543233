"""Time the reference notebook against the original sheet's code, side by side.

Both run top to bottom in a fresh kernel with nbclient, in the project root,
on the same MNIST files; the order alternates between repetitions so that a
noisy machine hurts both alike. For each run it prints the wall-clock time
and the CPU time of the kernel process (user + system, read from /proc
before the kernel shuts down; other programs on a shared machine barely
change it), then the ratios notebook / sheet of the medians (lower is
better; the goal is <= 1.0).

    python -m instructor.benchmarks.notebook_vs_sheet [--repeats N] [--concurrent]

With ``--concurrent`` the two run at the same time, so that a machine whose
speed drifts (shared cores) slows both alike.

The sheet's code is reproduced below as it was handed over, changed only
where it does not run at all: the two syntax errors (`for loss, in losses`,
`test accuracies =`) are fixed, and the outputs it prints are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
sys.path.insert(0, str(PROJECT_ROOT))

from ex4.mnist_data import ensure_mnist  # noqa: E402

# seconds a single cell may run before the benchmark gives up
CELL_TIMEOUT_SECONDS = 1800
# per run, the slowest cells are listed to show where the time goes
SLOWEST_CELLS_SHOWN = 4

SHEET_CELLS = [
    '''
import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import ToTensor
from utils import *

train_set = datasets.MNIST(root="data", download=True, transform=ToTensor())
test_set = datasets.MNIST(root="data", download=True, transform=ToTensor(), train=False)
train_loader = DataLoader(train_set, batch_size=32, shuffle=False)
test_loader = DataLoader(test_set, batch_size=32, shuffle=False)
for batch, labels in train_loader:
    print("Tensor dimension of a single batch (batch_size x channels x height x width):",
          list(batch.shape))
    visualize_first_4(batch, labels)
    break
''',
    '''
from torch import nn

class SimpleFixedMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.input_layer = nn.Linear(in_features=28 * 28, out_features=32, bias=True)
        self.hidden_layer1 = nn.Linear(in_features=32, out_features=32, bias=True)
        self.hidden_layer2 = nn.Linear(in_features=32, out_features=32, bias=True)
        self.output_layer = nn.Linear(in_features=32, out_features=10, bias=True)
        self.activation = nn.ReLU()

    def forward(self, input):
        out = self.flatten(input)
        out = self.input_layer(out)
        out = self.activation(out)
        out = self.hidden_layer1(out)
        out = self.activation(out)
        out = self.hidden_layer2(out)
        out = self.activation(out)
        out = self.output_layer(out)
        return out
''',
    '''
class SimpleMLP(nn.Module):
    def __init__(self, dims: list[int]):
        super().__init__()
        self.flatten = nn.Flatten()
        layers = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        out = self.flatten(input)
        out = self.layers(out)
        return out
''',
    '''
model1 = SimpleFixedMLP()
model2 = SimpleMLP(dims=[28*28, 32, 32, 32, 10])
model3 = nn.Sequential(nn.Linear(28*28,32), nn.ReLU(), nn.Linear(32,32), nn.ReLU(),
                       nn.Linear(32,32), nn.ReLU(), nn.Linear(32,10))
for i, model in enumerate([model1, model2, model3]):
    print(f"Model {i+1} parameter shapes:")
    for i, param in enumerate(model.parameters()):
        print(f"\\t{param.shape} {param.detach()[0, :3] if i == 0 else ''}")
''',
    '''
from torch.optim import SGD

non_learnable_tensor = torch.tensor([1., 2., 3.])
learnable_tensor = torch.tensor([1., 1., 1.], requires_grad=True)
optimizer = SGD([learnable_tensor, non_learnable_tensor], lr=0.1)
output = non_learnable_tensor @ learnable_tensor
print(learnable_tensor.grad, non_learnable_tensor.grad)
output.backward(retain_graph=True)
print(learnable_tensor.grad, non_learnable_tensor.grad)
output.backward()
print(learnable_tensor.grad, non_learnable_tensor.grad)
optimizer.step()
print(learnable_tensor.data, non_learnable_tensor.data)
optimizer.zero_grad(set_to_none=False)
print(learnable_tensor.grad, non_learnable_tensor.grad)
''',
    '''
from typing import Callable

def train(model: nn.Module,
          dataloader: DataLoader,
          optimizer: torch.optim.Optimizer,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
          n_epochs: int = 20):
    for epoch in range(n_epochs):
        losses = []
        for batch, labels in dataloader:
            optimizer.zero_grad()
            predictions = model(batch)
            loss = loss_fn(predictions, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        print(f"Model {i + 1}: the last loss is {losses[-1]}")
    return losses
''',
    '''
loss_fn = nn.CrossEntropyLoss()
models = [SimpleMLP(dims=[28 * 28, 32, 10]) for _ in range(10)]
optimizers = [torch.optim.Adam(model.parameters(), lr=0.04) for model in models]
losses = []
for i, model in enumerate(models):
    optimizer = optimizers[i]
    loss = train(model, train_loader, optimizer, loss_fn, n_epochs=1)
    losses.append(loss)

import matplotlib.pyplot as plt
import numpy as np

smoothed_losses = [np.convolve(loss, np.ones(25) / 25, mode='valid') for loss in losses]
plt.figure(figsize=(12, 8))
for i, smoothed_loss in enumerate(smoothed_losses):
    plt.plot(smoothed_loss, label=f'Model {i+1}')
plt.xlabel('Iterations')
plt.ylabel('Smoothed Loss')
plt.title('Comparison of Model Loss Convergence')
plt.legend(loc='upper right')
plt.grid(True)
plt.show()
''',
    '''
def compute_accuracy(model: nn.Module, dataloader: DataLoader) -> float:
    n_correctly_classified = 0
    for batch, labels in dataloader:
        batch, labels = batch.to(next(model.parameters()).device), labels.to(next(model.parameters()).device)
        outputs = model(batch)
        _, predicted = torch.max(outputs, dim=1)
        n_correctly_classified += (predicted == labels).sum().item()
    accuracy = n_correctly_classified / len(dataloader.dataset)
    return accuracy
''',
    '''
test_accuracies = [compute_accuracy(model, test_loader) for model in models]
for i, test_acc in enumerate(test_accuracies):
    print(f"Model {i+1} Test accuracy: {test_acc:.4f}")
''',
    '''
def compute_accuracy_per_class(model: nn.Module, dataloader: DataLoader) -> dict[int, float]:
    correct={i:0 for i in range(10)}
    total={i:0 for i in range(10)}
    for batch, labels in dataloader:
        predictions=model(batch)
        predictions_labels=predictions.argmax(dim=1)
        for i in range(len(labels)):
            label=labels[i].item()
            total[label]+=1
            if predictions_labels[i]==label:
                correct[label]+=1
    accuracy={i:correct[i]/total[i] for i in range(10)}
    return accuracy
''',
    '''
import matplotlib.pyplot as plt

def accuracies_bar_plot(per_class_accuracies, label):
    labels = list(range(10))
    bar_heights = {
        f"Model {i+1}": list(per_class_accuracies[i].values())
        for i, model in enumerate(models)
    }
    width = 0.09
    multiplier = -3
    for model_id, accuracies in bar_heights.items():
        offset = width * multiplier
        rects = plt.bar([l + offset for l in labels], accuracies, width, label=model_id)
        multiplier += 1
    plt.ylabel(label)
    plt.xlabel("MNIST digit")
    plt.xticks([l + width for l in labels], labels)
    plt.legend(loc="upper right", ncols=2)
    plt.show()

test_per_class_accuracies = [compute_accuracy_per_class(model, test_loader) for model in models]
accuracies_bar_plot(test_per_class_accuracies, "Test Accuracy")
''',
]


def sheet_notebook() -> nbformat.NotebookNode:
    return new_notebook(cells=[new_code_cell(source.strip("\n")) for source in SHEET_CELLS])


def kernel_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[11] and fields[12] are utime and stime (fields 14 and 15 of proc(5)), in clock ticks
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_notebook(notebook: nbformat.NotebookNode) -> tuple[float, float]:
    """Wall-clock and kernel CPU seconds to execute ``notebook`` in a fresh kernel in the project root."""
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(PROJECT_ROOT)}})
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        start = time.perf_counter()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        wall = time.perf_counter() - start
        cpu = kernel_cpu_seconds(pid)
    return wall, cpu


def slowest_cells(notebook: nbformat.NotebookNode, count: int) -> list[tuple[float, str]]:
    """(seconds, first line) of the ``count`` slowest code cells, from nbclient's timing metadata."""
    timed = []
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            started = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            finished = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            timed.append(((finished - started).total_seconds(), cell.source.splitlines()[0][:50]))
    return sorted(timed, reverse=True)[:count]


def run_one(name: str) -> tuple[float, float]:
    """Execute the notebook called ``name`` ("notebook" or "sheet"); print and return its times."""
    notebook = nbformat.read(NOTEBOOK, as_version=4) if name == "notebook" else sheet_notebook()
    wall, cpu = time_notebook(notebook)
    print(f"{name:8s} wall {wall:7.1f} s, kernel CPU {cpu:7.1f} s", flush=True)
    for seconds, first_line in slowest_cells(notebook, SLOWEST_CELLS_SHOWN):
        print(f"    {seconds:7.1f} s  {first_line}", flush=True)
    return wall, cpu


def run_concurrently() -> dict[str, tuple[float, float]]:
    """Both notebooks at the same time, each in a process of its own.

    Whatever else slows the machine down then slows both alike; the two
    compete for the same cores, symmetrically.
    """
    processes = {name: subprocess.Popen([sys.executable, __file__, "--only", name],
                                        stdout=subprocess.PIPE, text=True)
                 for name in ("notebook", "sheet")}
    times = {}
    for name, process in processes.items():
        output, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"executing the {name} failed (exit {process.returncode})")
        print(output, end="", flush=True)
        times[name] = tuple(json.loads(output.strip().splitlines()[-1]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each notebook (default 1)")
    parser.add_argument("--concurrent", action="store_true",
                        help="run the two notebooks at the same time instead of one after the other")
    parser.add_argument("--only", choices=("notebook", "sheet"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    ensure_mnist(PROJECT_ROOT / "data")
    if args.only:
        print(json.dumps(run_one(args.only)))
        return

    times = {"notebook": [], "sheet": []}
    for repeat in range(args.repeats):
        print(f"run {repeat + 1}:", flush=True)
        if args.concurrent:
            for name, measured in run_concurrently().items():
                times[name].append(measured)
            continue
        names = ["notebook", "sheet"] if repeat % 2 == 0 else ["sheet", "notebook"]
        for name in names:
            times[name].append(run_one(name))

    for index, measure in enumerate(("wall", "kernel CPU")):
        reference = statistics.median(t[index] for t in times["notebook"])
        sheet = statistics.median(t[index] for t in times["sheet"])
        print(f"median {measure}: notebook {reference:.1f} s, sheet {sheet:.1f} s, "
              f"ratio notebook/sheet {reference / sheet:.3f}")


if __name__ == "__main__":
    main()
