"""A class for measuring ``instructor/grading/similarity.py``: independent correct answers and planted copies.

Each task has several correct answers written independently of each other
(different structure, names and library calls; the reference notebook's own
answer is the first). Student ``i`` of the class answers every task with
that task's answer ``i`` (cycling when a task has fewer), so two students are
independent on a task exactly when their answer numbers differ there. Copier
``i`` copies student ``i``'s whole notebook, disguised: every name the
answer binds renamed, two independent statements swapped, comments added and
the code reformatted (``disguised``).

``python tests/similarity_corpus.py`` prints recall on the copies, the share
of independent pairs flagged per task (the static forced-answer rule left
aside for that row), the tasks reported as forced, and how long a class of 300
takes to extract and to compare.
"""
from __future__ import annotations

import ast
import copy
import re
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from notebook_edits import with_region  # noqa: E402

from instructor.grading import similarity  # noqa: E402
from instructor.grading.extract import extract  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SOLUTION = PROJECT_ROOT / "solution.py"
REFERENCE = None  # an answer that leaves the reference notebook's region as it is

# task -> independent correct answers; each answer is one body per solution region of the task
ANSWERS: dict[str, list[tuple[str, ...] | None]] = {
    "1a": [
        REFERENCE,
        ("""
self.flatten = tnn.Flatten()
self.layers = tnn.ModuleList([tnn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1)])
""", """
out = self.flatten(input)
for layer in self.layers[:-1]:
    out = F.relu(layer(out))
return self.layers[-1](out)
"""),
        ("""
layers = []
for index, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
    layers.append(nn.Linear(n_in, n_out))
    if index < len(dims) - 2:
        layers.append(nn.ReLU())
self.net = nn.Sequential(nn.Flatten(), *layers)
""", "return self.net(input)"),
        ("""
self.weights = nn.ParameterList(nn.Parameter(torch.randn(b, a) / a ** 0.5) for a, b in zip(dims[:-1], dims[1:]))
self.biases = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in dims[1:])
""", """
out = input.reshape(input.shape[0], -1)
for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
    out = F.linear(out, weight, bias)
    if index < len(self.weights) - 1:
        out = F.relu(out)
return out
"""),
        ("""
self.n_layers = len(dims) - 1
for i in range(self.n_layers):
    self.add_module(f"fc{i}", nn.Linear(dims[i], dims[i + 1]))
""", """
x = input.view(input.size(0), -1)
for i in range(self.n_layers):
    x = getattr(self, f"fc{i}")(x)
    if i < self.n_layers - 1:
        x = torch.relu(x)
return x
"""),
        ("""
self.hidden = nn.ModuleList()
for d_in, d_out in zip(dims, dims[1:]):
    self.hidden.append(nn.Linear(d_in, d_out))
self.act = nn.ReLU()
""", """
h = torch.flatten(input, start_dim=1)
for k, lin in enumerate(self.hidden):
    h = lin(h)
    if k != len(self.hidden) - 1:
        h = self.act(h)
return h
"""),
        ("""
modules = [nn.Flatten()]
for i in range(len(dims) - 2):
    modules += [nn.Linear(dims[i], dims[i + 1]), nn.ReLU()]
modules.append(nn.Linear(dims[-2], dims[-1]))
self.model = nn.Sequential(*modules)
""", """
logits = self.model(input)
return logits
"""),
        ("""
self.flat = nn.Flatten()
self.hidden_layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-2], dims[1:-1])])
self.output_layer = nn.Linear(dims[-2], dims[-1])
""", """
z = self.flat(input)
for layer in self.hidden_layers:
    z = nn.functional.relu(layer(z))
return self.output_layer(z)
"""),
        ("""
self.linears = nn.ModuleList(nn.Linear(dims[i - 1], dims[i]) for i in range(1, len(dims)))
""", """
y = input.flatten(1)
*hidden, last = self.linears
for linear in hidden:
    y = linear(y).clamp(min=0)
return last(y)
"""),
        ("""
sizes = list(zip(dims[:-1], dims[1:]))
self.blocks = nn.ModuleDict({f"layer_{j}": nn.Linear(m, n) for j, (m, n) in enumerate(sizes)})
self.relu = nn.ReLU()
""", """
t = input.reshape(len(input), -1)
names = list(self.blocks.keys())
for name in names[:-1]:
    t = self.relu(self.blocks[name](t))
return self.blocks[names[-1]](t)
"""),
    ],
    "3b": [
        REFERENCE,
        ("""
totals = torch.bincount(dataloader.dataset.targets, minlength=10)
correct = torch.zeros(10)
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch).argmax(dim=1)
        correct += torch.bincount(labels[predicted == labels], minlength=10)
return {c: (correct[c] / totals[c]).item() if totals[c] else float("nan") for c in range(10)}
""",),
        ("""
confusion = torch.zeros(10, 10, dtype=torch.long)
for batch, labels in dataloader:
    predicted = torch.max(model(batch), dim=1).indices
    for y, p in zip(labels, predicted):
        confusion[y, p] += 1
per_class = {}
for c in range(10):
    n = confusion[c].sum().item()
    per_class[c] = confusion[c, c].item() / n if n else float("nan")
return per_class
""",),
        ("""
correct = {c: 0 for c in range(10)}
total = {c: 0 for c in range(10)}
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch).argmax(dim=1)
        for p, y in zip(predicted.tolist(), labels.tolist()):
            total[y] += 1
            correct[y] += int(p == y)
return {c: correct[c] / total[c] if total[c] else float("nan") for c in range(10)}
""",),
        ("""
hits = [0] * 10
seen = [0] * 10
model.eval()
with torch.no_grad():
    for images, targets in dataloader:
        preds = model(images).argmax(1)
        for t, p in zip(targets, preds):
            seen[int(t)] += 1
            if int(t) == int(p):
                hits[int(t)] += 1
return {k: hits[k] / seen[k] if seen[k] > 0 else float("nan") for k in range(10)}
""",),
        ("""
all_preds, all_labels = [], []
with torch.no_grad():
    for x, y in dataloader:
        all_preds.append(model(x).argmax(dim=1))
        all_labels.append(y)
preds = torch.cat(all_preds)
labels = torch.cat(all_labels)
result = {}
for c in range(10):
    mask = labels == c
    result[c] = (preds[mask] == c).float().mean().item() if mask.any() else float("nan")
return result
""",),
        ("""
from collections import Counter
right, count = Counter(), Counter()
for inputs, lbls in dataloader:
    out = model(inputs)
    guess = torch.max(out, dim=1)[1]
    count.update(lbls.tolist())
    right.update(lbls[guess == lbls].tolist())
accuracies = {}
for cls in range(10):
    accuracies[cls] = right[cls] / count[cls] if count[cls] else math.nan
return accuracies
""",),
        ("""
correct_per_class = torch.zeros(10)
samples_per_class = torch.zeros(10)
model.eval()
for data, target in dataloader:
    with torch.no_grad():
        predicted_class = model(data).argmax(-1)
    one_hot = torch.nn.functional.one_hot(target, num_classes=10).float()
    samples_per_class += one_hot.sum(dim=0)
    correct_per_class += (one_hot * (predicted_class == target).float().unsqueeze(1)).sum(dim=0)
return {i: float(correct_per_class[i] / samples_per_class[i]) if samples_per_class[i] > 0 else float("nan")
        for i in range(10)}
""",),
        ("""
labels_seen = []
labels_hit = []
for xb, yb in dataloader:
    pred = model(xb).detach().argmax(axis=1).numpy()
    truth = yb.numpy()
    labels_seen.extend(truth)
    labels_hit.extend(truth[pred == truth])
seen = np.bincount(labels_seen, minlength=10)
hit = np.bincount(labels_hit, minlength=10)
return {int(c): (hit[c] / seen[c]).item() if seen[c] else float("nan") for c in range(10)}
""",),
        ("""
stats = {digit: [0, 0] for digit in range(10)}
model.eval()
with torch.inference_mode():
    for samples, classes in dataloader:
        guesses = model(samples).max(dim=1).indices
        for digit in range(10):
            of_digit = classes == digit
            stats[digit][0] += int((guesses[of_digit] == digit).sum())
            stats[digit][1] += int(of_digit.sum())
return {digit: good / n if n else float("nan") for digit, (good, n) in stats.items()}
""",),
    ],
    "1b": [
        REFERENCE,
        ("""
model1 = SimpleFixedMLP()
model2 = SimpleMLP([784, 32, 32, 32, 10])
model3 = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                       nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
""",),
        ("""
model1 = SimpleFixedMLP()
sizes = [28 * 28, 32, 32, 32, 10]
model2 = SimpleMLP(dims=sizes)
layers = [nn.Flatten()]
for a, b in zip(sizes[:-2], sizes[1:-1]):
    layers += [nn.Linear(a, b), nn.ReLU()]
model3 = nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))
""",),
    ],
    "2a": [
        REFERENCE,
        ("""
predictions = model(batch)
loss = loss_fn(predictions, labels)
loss.backward()
optimizer.step()
model.zero_grad()
losses.append(float(loss))
""",),
        ("""
optimizer.zero_grad()
loss = loss_fn(input=model(batch), target=labels)
loss.backward()
optimizer.step()
losses.append(loss.item())
""",),
        ("""
output = model(batch)
batch_loss = loss_fn(output, labels)
optimizer.zero_grad()
batch_loss.backward()
optimizer.step()
losses.append(batch_loss.detach().item())
""",),
    ],
    "2b": [
        REFERENCE,
        ("""
optimizers.append(torch.optim.Adam(params=model.parameters(), lr=4e-2))
losses += [train(models[i], train_loader, optimizers[-1], loss_fn, 1)]
""",),
        ("""
adam = torch.optim.Adam(model.parameters(), lr=0.04)
history = train(model, train_loader, adam, loss_fn, n_epochs=N_EPOCHS_2B)
optimizers.append(adam)
losses.append(history)
""",),
    ],
    "3a": [
        REFERENCE,
        ("""
_, predicted = torch.max(model(batch), 1)
n_correctly_classified += int((predicted == labels).sum())
n_samples += len(labels)
""",),
        ("""
outputs = model(batch)
n_correctly_classified += (outputs.argmax(1) == labels).sum().item()
n_samples += labels.size(0)
""",),
        ("""
n_correctly_classified += (model(batch).max(dim=1).indices == labels).float().sum().item()
n_samples += batch.shape[0]
""",),
    ],
}
# the 1a answers that use the alias imports (tnn, F) and 3b's numpy: given to every student, as a cell of imports
IMPORTS_CELL = "import math\nimport numpy as np\nimport torch.nn as tnn\nimport torch.nn.functional as F\n"
COMMENTS = ("# compute this step", "# keep the result", "# see the lecture")


def body_of(answer: tuple[str, ...] | None, notebook_regions: list[str]) -> list[str]:
    return list(notebook_regions) if answer is None else [textwrap.dedent(body).strip("\n") for body in answer]


def _parse_body(body: str) -> ast.Module:
    """A region's body parsed inside a function, so that ``return`` parses."""
    return ast.parse("def _wrapper():\n" + textwrap.indent(body, "    "))


def _bound(bodies: list[str]) -> list[str]:
    names = set()
    for body in bodies:
        names |= similarity.bound_names(_parse_body(body).body[0]) - {"_wrapper", "self"}
    return sorted(names)


def _statements(body: str) -> list[ast.stmt]:
    return _parse_body(body).body[0].body


def _names(node: ast.AST, stored: bool) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store) == stored:
            found.add(child.id)
        elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store) == stored:
            found.add(child.attr)
    return found


def _swapped(body: str) -> str:
    """``body`` with its first two adjacent independent simple statements swapped (unchanged if none)."""
    statements = _statements(body)
    simple = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)
    for first, second in zip(statements, statements[1:]):
        if not (isinstance(first, simple) and isinstance(second, simple)):
            continue
        if _names(first, True) & (_names(second, False) | _names(second, True)) or \
                _names(second, True) & _names(first, False):
            continue
        lines = body.splitlines()
        a = lines[first.lineno - 2:first.end_lineno - 1]
        b = lines[second.lineno - 2:second.end_lineno - 1]
        return "\n".join(lines[:first.lineno - 2] + b + a + lines[second.end_lineno - 1:])
    return body


def disguised(bodies: list[str], suffix: str) -> list[str]:
    """The bodies of one task's answer as a copier hands them in.

    Every name the answer binds gets ``suffix`` (consistently over the
    bodies), two adjacent independent statements are swapped, the code is
    reformatted (parsed and written back: other quotes, spacing, parentheses,
    blank lines) and comments are added.
    """
    names = _bound(bodies)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    result = []
    for body in bodies:
        if pattern is not None:
            body = pattern.sub(lambda m: f"{m.group(1)}_{suffix}", body)
        body = _swapped(body)
        body = ast.unparse(_parse_body(body).body[0].body)  # reformatted
        lines = []
        for index, line in enumerate(body.splitlines()):
            if not line.startswith(" "):
                lines += ["", COMMENTS[index % len(COMMENTS)]]
            lines.append(line + ("  # done" if index == 0 else ""))
        result.append("\n".join(lines).strip("\n"))
    return result


def reference_regions(notebook: nbformat.NotebookNode, task: str) -> list[str]:
    from instructor.solution_regions import find_regions

    return [textwrap.dedent(region.body) for cell in notebook.cells if cell.cell_type == "code"
            for region in find_regions(cell.source) if region.task == task]


def build_class(folder: Path, n_students: int | None = None) -> tuple[dict[str, Path], dict]:
    """Write the class into ``folder``; return id -> path and the truth: which answer each student has per task.

    Student ``s<i>`` has answer ``i`` of every task (cycling); copier ``c<i>``
    has ``s<i>``'s answers, disguised.
    """
    reference = nbformat.read(NOTEBOOK, as_version=4)
    n_students = n_students or max(len(answers) for answers in ANSWERS.values())
    paths, truth = {}, {}
    for index in range(n_students):
        for copier in (False, True):
            student = f"{'c' if copier else 's'}{index}"
            notebook = copy.deepcopy(reference)
            notebook.cells.insert(1, nbformat.v4.new_code_cell(IMPORTS_CELL))
            truth[student] = {}
            for task, answers in ANSWERS.items():
                number = index % len(answers)
                bodies = body_of(answers[number], reference_regions(reference, task))
                if copier:
                    bodies = disguised(bodies, "v2")
                for occurrence, body in enumerate(bodies):
                    with_region(notebook, task, body, occurrence)
                truth[student][task] = number
            paths[student] = folder / f"{student}.ipynb"
            nbformat.write(notebook, paths[student])
    return paths, truth


def given_code(folder: Path) -> tuple[dict[str, Counter], dict[str, int]]:
    stub = extract(similarity.release_stub(folder, NOTEBOOK, SOLUTION))
    return similarity.given_and_reference(extract(NOTEBOOK), stub)


def measure(paths: dict[str, Path], truth: dict, given: dict[str, Counter]) -> dict[str, dict]:
    """Per task: recall on the planted copies, share of independent pairs flagged, forced or not.

    The static forced-answer rule is left aside here (every task compared) so
    that the numbers show why it is there.
    """
    submissions = {student: extract(path) for student, path in paths.items()}
    compared = similarity.compare_class(submissions, given, {task: similarity.MIN_ANSWER_TOKENS
                                                             for task in similarity.TASK_ORDER})
    measured = {}
    originals = [student for student in paths if student.startswith("s")]
    for task in similarity.TASK_ORDER:
        flagged = {pair.ids for pair in compared.pairs if pair.task == task}
        scores = similarity.pair_scores(similarity.task_answers(task, submissions, given[task]))
        copies = {tuple(sorted((s, "c" + s[1:]))) for s in originals}
        independent = [tuple(sorted((a, b))) for a in paths for b in paths if a < b
                       and truth[a][task] != truth[b][task]]
        measured[task] = {
            "copies_found": len(copies & flagged), "copies": len(copies),
            "independent_flagged": len(set(independent) & flagged), "independent": len(independent),
            "not_compared": compared.not_compared.get(task),
            "lowest_copy": min((scores.get(pair, (0.0, 0))[0] for pair in copies), default=0.0),
            "highest_independent": max((scores.get(pair, (0.0, 0))[0] for pair in independent), default=0.0)}
    return measured


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        paths, truth = build_class(folder)
        given, reference_tokens = given_code(folder)
        print(f"class: {len(paths)} notebooks ({len(paths) // 2} independent students, as many disguised copies)")
        print("task  copies found  independent pairs flagged  reference tokens  lowest copy / highest independent"
              "  reported")
        for task, row in measure(paths, truth, given).items():
            static = reference_tokens[task] < similarity.MIN_ANSWER_TOKENS
            reported = "not compared: forced lines" if static else "compared"
            share = row["independent_flagged"] / row["independent"] if row["independent"] else 0.0
            flagged = f"{row['independent_flagged']}/{row['independent']} = {share:.1%}"
            print(f"{task:4}  {row['copies_found']:>2}/{row['copies']:<2}         {flagged:<24}   "
                  f"{reference_tokens[task]:>4}              {row['lowest_copy']:.2f} / "
                  f"{row['highest_independent']:.2f}                      {reported}")
        big = {f"{student}-{k}": path for k in range(15) for student, path in paths.items()}
        started = time.perf_counter()
        submissions = {student: extract(path) for student, path in big.items()}
        extracted = time.perf_counter()
        report = similarity.compare_class(submissions, given, reference_tokens)
        compared = time.perf_counter()
        print(f"class of {len(big)}: extracted in {extracted - started:.1f} s, compared in "
              f"{compared - extracted:.2f} s ({len(report.pairs)} pairs reported)")


if __name__ == "__main__":
    main()
