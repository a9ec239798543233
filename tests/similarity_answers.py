"""Independent correct answers per task, for measuring similarity (tests/similarity_corpus.py).

Each task's answers differ in structure, names and library calls; ``REFERENCE``
(None) leaves the reference notebook's own answer in place. An answer is one
body per solution region of its task (1a has two: ``__init__`` and ``forward``).
"""
from __future__ import annotations

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
