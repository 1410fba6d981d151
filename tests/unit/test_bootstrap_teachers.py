"""What the bootstrap trains before its student: each teacher member the student's `teacher` names, on the
student's own split, unless `teacher_versions` already names one; MiniLM joins by itself only on a GPU."""

from __future__ import annotations

from training_worker.bootstrap import BOOTSTRAP_PARAMS, bootstrap_params, default_teacher, teacher_jobs


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


def test_a_transformer_teacher_gets_the_larger_transfer_set_and_given_params_still_win() -> None:
    cpu, gpu = bootstrap_params({}, gpu=False), bootstrap_params({}, gpu=True)
    assert cpu == {**BOOTSTRAP_PARAMS, "teacher": "classical"}  # the run.sh bootstrap keeps its minutes on CPU
    assert (gpu["teacher"], gpu["augment_copies"], gpu["epochs"]) == ("bert+classical", 6, 8)
    asked = bootstrap_params({"teacher": "bert", "augment_copies": 3}, gpu=False)
    assert (asked["teacher"], asked["augment_copies"], asked["epochs"]) == ("bert", 3, 8)
    assert BOOTSTRAP_PARAMS["augment_copies"] < 6 and BOOTSTRAP_PARAMS["epochs"] < 8
