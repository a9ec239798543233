"""Read a submission and say, for every task, which of its statements the task process runs.

Nothing is executed here: sources are only parsed with ``ast``, in a child
process with a time and memory budget (``budget.extract``).

Modules: ``reading`` (a file into cells, line maps), ``cells`` (one cell:
IPython syntax, parsing), ``statements`` (what one top-level statement binds,
uses and may run), ``choosing`` (the statements of each task),
``review`` (review flags), ``submission`` (the result and its JSON),
``task_tables`` (the names of the sheet's tasks), ``budget`` (the child
process).

Reading
    A ``.ipynb`` file is read with nbformat (any nbformat 4.x as Jupyter,
    JupyterLab, Colab or VS Code write it; older versions are converted), a
    ``.py`` file with jupytext (percent ``# %%`` and light formats, Colab's
    "Download .py" with markdown as string literals, plain modules). A file
    that cannot be read as a whole (not JSON, no list of cells, not UTF-8,
    larger than ``MAX_NOTEBOOK_BYTES``/``MAX_PYTHON_BYTES``) raises
    ``SubmissionError``; a cell that cannot be read (no text, too long, a
    syntax error, nested too deeply) costs only the tasks whose names it
    mentions. IPython syntax is recognised with IPython's
    ``TransformerManager``: line magics and shell lines (``%matplotlib
    inline``, ``!pip install``) are left out, ``%time statement`` keeps the
    statement; the body of a ``%%time``, ``%%timeit`` or ``%%capture`` cell
    is Python, any other cell magic leaves the cell out.

Locations
    In a notebook every cell counts, markdown and raw cells too: the first
    cell of the file is cell 1. ``Statement.where`` is ``"cell N"`` and
    ``Statement.line`` the 1-based line inside that cell as the student sees it
    (a ``%%time`` line counts). In a ``.py`` file ``where`` is ``""`` and
    ``line`` is the line of the file.

What a task runs
    ``TaskCode.context`` is the submission's top-level statements in order, as
    running the notebook top to bottom would (the last definition wins),
    without what must not run in the grader:

    * statements that are not an import, a ``def``/``class``, an assignment,
      an ``if``/``try`` block or a ``for`` loop with an unconditional
      ``break`` in its body (the given loop that shows one batch):
      expression statements (prints, plots, seeding), other loops, ``with``
      blocks, ``del``, ...; the blocks and loops that run do so without the
      statements inside them that would be skipped at top level (each
      replaced by ``pass``), and only when something of them is left to
      define a name;
    * MNIST loading and downloads: statements naming ``MNIST`` (and its
      sibling datasets), ``ensure_mnist``, torchvision ``datasets``,
      ``download``, ``urllib``, ``requests``, calling a function whose name
      holds ``mnist`` (``load_mnist()``), or importing a module whose name
      does (``mnist_data``); a plain name such as ``mnist_classes`` is no
      data;
    * assignments to the names the grader provides (``DATA_NAMES``);
    * statements calling training, evaluation, plotting or self-checks
      (``SKIPPED_CALLS``, ``check_task_*``, ``visualize_*``, ``.backward()``,
      ``.step()``);
    * magics and shell lines, Colab-only code (``google.colab`` imports and
      the statements using the names they bind), ``solution`` imports;
    * definitions of the protected names of other tasks (the reference's
      are used), so that e.g. a broken ``SimpleMLP`` costs only Task 1a;
    * imports whose names nothing else the task runs uses (an unused
      ``torchvision`` import costs seconds in every task process).

    Definition tasks (1a, 2a, 3a, 3b) keep their own definitions in place; the
    last one is ``graded``: its failure fails the task, the failure of any
    other context statement costs only the names it would have defined.

    Statement tasks: 1b is the last cell assigning ``model1``/``model2``/
    ``model3``, 2b the last cell assigning ``optimizers`` (else a ``def
    build_equivalent_models`` / ``def train_models``, kind ``function``,
    graded like a definition; else the cell holding ``### BEGIN SOLUTION``).
    That cell's statements are ``TaskCode.task_code`` (graded) and not in the
    context; the code cells after it, over markdown cells, up to a cell that
    defines or assigns another task's names, are added ungraded (a task split
    over cells, a comment paragraph that jupytext made a markdown cell); in a
    .py file so are the code cells right before it, up to text. Magics, data
    loading, assignments to ``DATA_NAMES``, self-check calls and protected
    definitions are removed from the task code; plotting and training stay.
    The context of a statement task is what runs before its cell, plus the
    ``def``/``class`` and imports of later cells whose names nothing before
    it binds (cells run out of order).

Review flags
    ``Submission.review`` lists uses of introspection and low-level
    process/file tricks (``sys._getframe``, ``inspect`` frames, ``ctypes``,
    raw ``os`` file descriptors and processes, ``socket``, ``subprocess``,
    ``/proc``, ...), e.g. ``"sys._getframe, cell 16 line 3"`` or
    ``"socket, line 12"``: one entry per place (``"os.kill/signal, cell 3
    line 9"`` when a line has several), at most ``MAX_REVIEW_FLAGS``.
"""
from instructor.grading.extraction.budget import EXTRACTION_TIMEOUT_S, extract
from instructor.grading.extraction.choosing import extract_in_process, reference_code
from instructor.grading.extraction.submission import Statement, Submission, SubmissionError, TaskCode
from instructor.grading.extraction.task_tables import DEFINITION_TASKS, STATEMENT_TASKS

__all__ = ["DEFINITION_TASKS", "EXTRACTION_TIMEOUT_S", "STATEMENT_TASKS", "Statement", "Submission",
           "SubmissionError", "TaskCode", "extract", "extract_in_process", "reference_code"]
