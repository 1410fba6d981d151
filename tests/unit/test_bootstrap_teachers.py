"""What the bootstrap trains before its student: each teacher member the student's `teacher` names, on the
student's own split, unless `teacher_versions` already names one; MiniLM joins by itself only on a GPU."""

from __future__ import annotations

from training_worker.bootstrap import BOOTSTRAP_PARAMS, default_teacher, teacher_jobs


def test_each_member_of_the_teacher_is_trained_on_the_students_split() -> None:
    student = {**BOOTSTRAP_PARAMS, "teacher": "bert+classical", "max_rows": 3000, "seed": 7}
    jobs = dict(teacher_jobs(student))
    assert sorted(jobs) == ["bert", "classical"]
    for params in jobs.values():
        assert (params["dataset"], params["max_rows"], params["seed"]) == ("bundled", 3000, 7)
    assert jobs["bert"]["epochs"] == 2 and jobs["classical"]["models"] == ["logreg"]


def test_a_member_named_in_teacher_versions_is_not_trained_again() -> None:
    student = {**BOOTSTRAP_PARAMS, "teacher": "bert+classical", "teacher_versions": {"classical": "3"}}
    assert [family for family, _ in teacher_jobs(student)] == ["bert"]


def test_no_teacher_means_no_teacher_job() -> None:
    assert teacher_jobs({**BOOTSTRAP_PARAMS, "teacher": "none"}) == []


def test_minilm_joins_the_teacher_only_where_there_is_a_gpu() -> None:
    assert default_teacher(gpu=True) == "bert+classical"
    assert default_teacher(gpu=False) == "classical"
