"""--seed and the record of a run in the gradebook JSON (no grading; the real grading is test_reproducible_grades)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from test_feedback import full_marks

from instructor import grade
from instructor.grading.core import REFERENCE_PATH, SEED_RANGE
from instructor.grading.run_record import run_record, sha256_of_files, task_definition_files


def test_the_record_names_seed_versions_hashes_options_and_date(tmp_path):
    solution = tmp_path / "solution.py"
    solution.write_text("x = 1\n")
    when = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)
    record = run_record(42, solution, {"jobs": 2}, now=when)
    assert record["seed"] == 42 and record["options"] == {"jobs": 2}
    assert record["date"] == "2026-12-03T10:00:00+00:00"
    assert record["grader_version"] and record["python"]
    assert record["solution_sha256"] == sha256_of_files([solution])
    solution.write_text("x = 2\n")
    assert run_record(42, solution, {}, now=when)["solution_sha256"] != record["solution_sha256"]
    assert {p.name for p in task_definition_files()} >= {f"task_{t}.py" for t in ("1a", "1b", "2a", "2b", "3a", "3b")}
    assert record["tasks_sha256"] == sha256_of_files(task_definition_files())
    assert len({record["solution_sha256"], record["tasks_sha256"], record["grader_sha256"]}) == 3


def test_the_hash_covers_names_and_contents(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("1")
    b.write_text("2")
    both = sha256_of_files([a, b], tmp_path)
    assert both == sha256_of_files([b, a], tmp_path)  # the order given does not matter
    b.write_text("3")
    changed = sha256_of_files([a, b], tmp_path)
    assert changed != both
    b.rename(tmp_path / "c.py")
    assert sha256_of_files([a, tmp_path / "c.py"], tmp_path) != changed  # same contents, another name


def recording_grading(seeds: list):
    def grade_paths(paths, limits=None, jobs=1, reference_path=None, seed=None, **kwargs):
        seeds.append(seed)
        return [full_marks(p) for p in paths]
    return grade_paths


def test_cli_passes_the_seed_and_records_it(tmp_path, monkeypatch):
    (tmp_path / "alice.ipynb").write_text("")
    seeds = []
    monkeypatch.setattr(grade, "grade_paths", recording_grading(seeds))
    out = tmp_path / "g.json"
    assert grade.main(["--seed", "123", "--json", str(out), str(tmp_path / "alice.ipynb")]) == 0
    run = json.loads(out.read_text())["run"]
    assert seeds == [123] and run["seed"] == 123
    assert run["options"]["layout"] == "flat" and run["options"]["reference"] == str(REFERENCE_PATH)
    assert run["solution_sha256"] == sha256_of_files([REFERENCE_PATH])
    assert grade.main(["--json", str(out), str(tmp_path / "alice.ipynb")]) == 0
    drawn = json.loads(out.read_text())["run"]["seed"]
    assert seeds[1] == drawn and 0 <= drawn < SEED_RANGE  # a drawn seed is the one recorded


@pytest.mark.parametrize("seed", ["-1", str(SEED_RANGE)])
def test_cli_refuses_a_seed_out_of_range(tmp_path, seed, capsys):
    with pytest.raises(SystemExit):
        grade.main(["--seed", seed, str(tmp_path)])
    assert "--seed must be from 0" in capsys.readouterr().err


def test_help_lists_every_new_option(capsys):
    with pytest.raises(SystemExit):
        grade.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--seed", "--layout", "--overrides", "--roster", "--lms", "--lms-csv", "--roster-key",
                   "--lms-assignment", "nbgrader,canvas,moodle,flat"):
        assert option in text, option
