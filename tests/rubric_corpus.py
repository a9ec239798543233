"""Honest one-mistake submissions, each with the points the published rubric gives it.

Every case is the reference notebook with one task's answer rewritten the way
students write it, with one mistake. The expected points were worked out by
hand from the README's table of checks (a check gives all its points or
none) before the grader was run on the case; the reason says which checks
fail. ``tests/test_grading_rubric.py`` grades them and requires exactly
these points, for the rewritten task and full points for every other task.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nbformat
from notebook_edits import with_region

Edit = Callable[[nbformat.NotebookNode], None]


@dataclass(frozen=True)
class RubricCase:
    name: str
    task: str
    points: int
    reason: str
    edits: tuple[Edit, ...]


def region(task: str, body: str, occurrence: int = 0) -> Edit:
    return lambda notebook: with_region(notebook, task, body, occurrence)


# ---------------------------------------------------------------- 1a
MODULELIST_INIT = """
self.flatten = nn.Flatten()
self.layers = nn.ModuleList(nn.Linear(n_in, n_out{bias}) for n_in, n_out in zip(dims[:-1], dims[1:]))
self.activation = {activation}
"""
LOOP_FORWARD = """
out = self.flatten(input)
for layer in self.layers[:-1]:
    out = self.activation(layer(out))
return {last}
"""


def mlp(bias: str = "", activation: str = "nn.ReLU()", last: str = "self.layers[-1](out)") -> tuple[Edit, Edit]:
    return (region("1a", MODULELIST_INIT.format(bias=bias, activation=activation)),
            region("1a", LOOP_FORWARD.format(last=last), 1))


# ---------------------------------------------------------------- 1b
SEQUENTIAL = """
model1 = {model1}
model2 = {model2}
model3 = nn.Sequential(
    {layers}
)
"""
SEQUENTIAL_LAYERS = ("nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), "
                     "nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)")


def models(model1: str = "SimpleFixedMLP()", model2: str = "SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])",
           layers: str = SEQUENTIAL_LAYERS) -> tuple[Edit]:
    return (region("1b", SEQUENTIAL.format(model1=model1, model2=model2, layers=layers)),)


# ---------------------------------------------------------------- 2a
TRAIN_STEP = """
{first}
predictions = model(batch)
loss = loss_fn(predictions, labels)
{middle}
{last}
{append}
"""


def train_step(first: str = "optimizer.zero_grad()", middle: str = "loss.backward()",
               last: str = "optimizer.step()", append: str = "losses.append(loss.item())") -> tuple[Edit]:
    return (region("2a", TRAIN_STEP.format(first=first, middle=middle, last=last, append=append)),)


# ---------------------------------------------------------------- 2b
MODEL_TRAINING = """
optimizer = {optimizer}
model_losses = train(model, {loader}, optimizer, loss_fn, n_epochs={epochs})
optimizers.append(optimizer)
{collect}
"""


def model_training(optimizer: str = "torch.optim.Adam(model.parameters(), lr=0.04)", loader: str = "train_loader",
                   epochs: str = "N_EPOCHS_2B", collect: str = "losses.append(model_losses)") -> tuple[Edit]:
    return (region("2b", MODEL_TRAINING.format(optimizer=optimizer, loader=loader, epochs=epochs,
                                               collect=collect)),)


# ---------------------------------------------------------------- 3a
ACCURACY_STEP = """
predicted = model(batch).argmax(dim=1)
n_correctly_classified {op} {correct}
n_samples {op} {samples}
"""


def accuracy_step(correct: str = "(predicted == labels).sum().item()", samples: str = "labels.numel()",
                  op: str = "+=") -> tuple[Edit]:
    return (region("3a", ACCURACY_STEP.format(op=op, correct=correct, samples=samples)),)


# ---------------------------------------------------------------- 3b
PER_CLASS = """
model.eval()
correct = [0] * 10
total = [0] * 10
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch).argmax(dim=1)
{count}
return {{c: {value} for c in range(10)}}
"""
COUNT_EVERY_BATCH = """
        for p, y in zip(predicted.tolist(), labels.tolist()):
            total[y] += 1
            if p == y:
                correct[y] += 1"""
COUNT_LAST_BATCH = """
        total = [0] * 10
        correct = [0] * 10
        for p, y in zip(predicted.tolist(), labels.tolist()):
            total[y] += 1
            if p == y:
                correct[y] += 1"""
RECALL = 'correct[c] / total[c] if total[c] > 0 else float("nan")'


def per_class(value: str = RECALL, count: str = COUNT_EVERY_BATCH) -> tuple[Edit]:
    return (region("3b", PER_CLASS.format(value=value, count=count.strip("\n"))),)


BINCOUNT_TENSOR_VALUES = """
n_correct = torch.zeros(10)
n_samples = torch.zeros(10)
with torch.no_grad():
    for batch, labels in dataloader:
        predicted = model(batch).argmax(dim=1)
        n_samples += torch.bincount(labels, minlength=10)
        n_correct += torch.bincount(labels[predicted == labels], minlength=10)
return {c: n_correct[c] / n_samples[c] for c in range(10)}
"""

CASES = (
    # 1a: output shape 4, parameter count 4, negative outputs 3, not affine 3, same outputs 6
    RubricCase("1a_tanh", "1a", 14, "tanh instead of ReLU: only 'same outputs as the reference' fails (-6)",
               mlp(activation="nn.Tanh()")),
    RubricCase("1a_softmax_after_last_layer", "1a", 11,
               "softmax after the last layer: outputs never negative (-3), other outputs (-6)",
               mlp(last="torch.softmax(self.layers[-1](out), dim=1)")),
    RubricCase("1a_no_bias", "1a", 10, "bias=False: parameter count (-4), other outputs (-6)",
               mlp(bias=", bias=False")),
    RubricCase("1a_one_layer_from_first_to_last_size", "1a", 7,
               "one Linear(dims[0], dims[-1]): parameter count (-4), affine (-3), other outputs (-6)",
               (region("1a", """
                self.flatten = nn.Flatten()
                self.layer = nn.Linear(dims[0], dims[-1])
                """), region("1a", "return self.layer(self.flatten(input))", 1))),
    RubricCase("1a_leaky_relu", "1a", 14, "LeakyReLU instead of ReLU: other outputs (-6)",
               mlp(activation="nn.LeakyReLU()")),
    RubricCase("1a_no_flatten", "1a", 16, "no Flatten: only the output shape on images BSx1x28x28 (-4)",
               (region("1a", LOOP_FORWARD.format(last="self.layers[-1](out)").replace("self.flatten(input)", "input"),
                       1),)),
    # 1b: model1 type 2, model2 type 1, model2 function 2, model3 type 1, model3 function 4
    RubricCase("1b_sequential_without_flatten", "1b", 6,
               "model3 a real nn.Sequential without nn.Flatten: only model3's function on BSx1x28x28 (-4)",
               models(layers=SEQUENTIAL_LAYERS.replace("nn.Flatten(), ", ""))),
    RubricCase("1b_model2_one_hidden_layer", "1b", 8,
               "model2 = SimpleMLP(dims=[28*28, 32, 10]): a real SimpleMLP, another function (-2)",
               models(model2="SimpleMLP(dims=[28 * 28, 32, 10])")),
    RubricCase("1b_model2_two_hidden_layers", "1b", 8,
               "model2 = SimpleMLP(dims=[28*28, 32, 32, 10]): a real SimpleMLP, another function (-2)",
               models(model2="SimpleMLP(dims=[28 * 28, 32, 32, 10])")),
    RubricCase("1b_model3_sigmoid", "1b", 6, "model3 with Sigmoid instead of ReLU: model3's function (-4)",
               models(layers=SEQUENTIAL_LAYERS.replace("nn.ReLU()", "nn.Sigmoid()"))),
    RubricCase("1b_model1_a_simple_mlp", "1b", 8,
               "model1 = SimpleMLP(...) of the right sizes: model1 is not a SimpleFixedMLP (-2)",
               models(model1="SimpleMLP(dims=[28 * 28, 32, 32, 32, 10])")),
    RubricCase("1b_model2_a_simple_fixed_mlp", "1b", 9,
               "model2 = SimpleFixedMLP(): model2 is not a SimpleMLP (-1), its function is model1's",
               models(model2="SimpleFixedMLP()")),
    RubricCase("1b_model3_wraps_simple_fixed_mlp", "1b", 9,
               "model3 = nn.Sequential(SimpleFixedMLP()): not an nn.Sequential of torch.nn layers (-1), "
               "its function is model1's", models(layers="SimpleFixedMLP()")),
    RubricCase("1b_model3_left_empty", "1b", 5,
               "model3 = nn.Sequential() without layers: its type (no nn.Linear layers, -1), its function (-4)",
               models(layers="")),
    # 2a: float losses 3, one loss per iteration 4, loss values 3, final weights 10
    RubricCase("2a_detached_tensor_losses", "2a", 17, "losses.append(loss.detach()): not Python floats (-3)",
               train_step(append="losses.append(loss.detach())")),
    RubricCase("2a_loss_times_batch_size", "2a", 17,
               "losses.append(loss.item() * len(labels)): other loss values (-3)",
               train_step(append="losses.append(loss.item() * len(labels))")),
    RubricCase("2a_no_zero_grad", "2a", 7, "gradients never reset: other loss values (-3), other weights (-10)",
               train_step(first="pass")),
    RubricCase("2a_step_before_backward", "2a", 7,
               "optimizer.step() before loss.backward(): other loss values (-3), other weights (-10)",
               train_step(middle="optimizer.step()", last="loss.backward()")),
    RubricCase("2a_zero_grad_between_backward_and_step", "2a", 7,
               "zero_grad after backward, before step: the weights never move; other loss values (-3), "
               "other weights (-10)", train_step(middle="loss.backward()\noptimizer.zero_grad()", first="pass")),
    # 2b: one optimizer per model 3, type 2, learning rate 2, train_loader 2, one epoch each + losses per model 1
    RubricCase("2b_three_epochs", "2b", 9, "n_epochs=3: only 'one epoch each' (-1)", model_training(epochs="3")),
    RubricCase("2b_two_epochs", "2b", 9, "n_epochs=2: only 'one epoch each' (-1)", model_training(epochs="2")),
    RubricCase("2b_sgd", "2b", 8, "SGD with lr=0.04: optimizer type (-2)",
               model_training(optimizer="torch.optim.SGD(model.parameters(), lr=0.04)")),
    RubricCase("2b_adam_default_learning_rate", "2b", 8, "Adam's default lr: learning rate (-2)",
               model_training(optimizer="torch.optim.Adam(model.parameters())")),
    RubricCase("2b_test_loader", "2b", 8, "trained one epoch on test_loader: the loader (-2)",
               model_training(loader="test_loader")),
    RubricCase("2b_adamw", "2b", 8, "AdamW with lr=0.04: optimizer type (-2)",
               model_training(optimizer="torch.optim.AdamW(model.parameters(), lr=0.04)")),
    RubricCase("2b_adam_lr_0_05", "2b", 8, "Adam with lr=0.05 (a training the grader does not replay): learning "
               "rate (-2)", model_training(optimizer="torch.optim.Adam(model.parameters(), lr=0.05)")),
    RubricCase("2b_rmsprop_default_lr", "2b", 6, "RMSprop with its default lr 0.01 (not replayed): optimizer type "
               "(-2), learning rate (-2)", model_training(optimizer="torch.optim.RMSprop(model.parameters())")),
    RubricCase("2b_losses_not_collected", "2b", 9, "no losses.append: losses per model (-1)",
               model_training(collect="pass")),
    RubricCase("2b_losses_in_one_flat_list", "2b", 9, "losses.extend(model_losses): losses per model (-1)",
               model_training(collect="losses.extend(model_losses)")),
    # 3a: one full batch 6, several batches with a short last one 12, Python float 2
    RubricCase("3a_percentage", "3a", 2, "100 * correct: both accuracies (-6, -12); still a float",
               accuracy_step(correct="100 * (predicted == labels).sum().item()")),
    RubricCase("3a_mean_of_batch_accuracies", "3a", 8, "mean of batch means: several batches (-12)",
               accuracy_step(correct="(predicted == labels).float().mean().item()", samples="1")),
    RubricCase("3a_tensor_count", "3a", 18, "no .item(): the result is a tensor, not a float (-2)",
               accuracy_step(correct="(predicted == labels).sum()")),
    RubricCase("3a_last_batch_only", "3a", 8, "= instead of +=: several batches (-12)", accuracy_step(op="=")),
    RubricCase("3a_counts_batches", "3a", 2, "n_samples += 1: both accuracies (-6, -12); still a float",
               accuracy_step(samples="1")),
    RubricCase("3a_error_rate", "3a", 2, "counts the wrong predictions: both accuracies (-6, -12); still a float",
               accuracy_step(correct="(predicted != labels).sum().item()")),
    # 3b: int keys 4, recall values 12, float values 2, NaN for an absent class 2
    RubricCase("3b_zero_for_absent_class", "3b", 18, "0.0 for a class without samples: NaN check (-2)",
               per_class(value="correct[c] / total[c] if total[c] > 0 else 0.0")),
    RubricCase("3b_tensor_values", "3b", 18, "tensor values (0/0 gives a NaN tensor): not Python floats (-2)",
               (region("3b", BINCOUNT_TENSOR_VALUES),)),
    RubricCase("3b_percentages", "3b", 8, "values times 100: recall values (-12)",
               per_class(value='100 * correct[c] / total[c] if total[c] > 0 else float("nan")')),
    RubricCase("3b_counts_reset_every_batch", "3b", 8, "counters reset per batch: recall values (-12)",
               per_class(count=COUNT_LAST_BATCH)),
    RubricCase("3b_string_keys", "3b", 16, "str(c) keys: int keys (-4); the values are right",
               (region("3b", PER_CLASS.format(value=RECALL, count=COUNT_EVERY_BATCH.strip("\n"))
                       .replace("return {c:", "return {str(c):")),)),
    RubricCase("3b_overall_accuracy_for_every_class", "3b", 6,
               "every class gets the overall accuracy: recall values (-12), a number for the absent class (-2)",
               per_class(value="sum(correct) / sum(total)")),
)
