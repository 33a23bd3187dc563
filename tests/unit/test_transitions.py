"""The case state machines, pair by pair: every allowed transition succeeds, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from onething.cases.model import (
    APPLICATION_FINAL,
    APPLICATION_TRANSITIONS,
    DECISION_TARGET,
    TASK_TRANSITIONS,
    ApplicationStatus,
    DecisionKind,
    InvalidTransition,
    TaskStatus,
    allowed_decisions,
    application_status_for,
    decide,
    decision_name,
    ready_successors,
    transition,
)

T, A = TaskStatus, ApplicationStatus

# The tables spelled out once more, independently: a change to a table must change this test too.
TASK_ALLOWED = {
    (T.waiting, T.ready), (T.waiting, T.cancelled),
    (T.ready, T.accepted), (T.ready, T.supplement_required), (T.ready, T.rejected), (T.ready, T.cancelled),
    (T.accepted, T.approved), (T.accepted, T.rejected), (T.accepted, T.supplement_required),
    (T.accepted, T.cancelled),
    (T.supplement_required, T.accepted), (T.supplement_required, T.cancelled),
}
APPLICATION_ALLOWED = {
    (A.submitted, A.in_progress), (A.submitted, A.supplement_required), (A.submitted, A.rejected),
    (A.submitted, A.withdrawn),
    (A.in_progress, A.supplement_required), (A.in_progress, A.completed), (A.in_progress, A.rejected),
    (A.in_progress, A.withdrawn),
    (A.supplement_required, A.in_progress), (A.supplement_required, A.rejected),
    (A.supplement_required, A.withdrawn),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(TaskStatus, TaskStatus)))
def test_every_task_pair(current: TaskStatus, target: TaskStatus) -> None:
    if (current, target) in TASK_ALLOWED:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition) as info:
            transition(current, target)
        assert (info.value.current, info.value.target) == (current.value, target.value)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ApplicationStatus, ApplicationStatus)))
def test_every_application_pair(current: ApplicationStatus, target: ApplicationStatus) -> None:
    if (current, target) in APPLICATION_ALLOWED:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            transition(current, target)


def test_tables_match_the_spelled_out_pairs() -> None:
    assert {(a, b) for a, targets in TASK_TRANSITIONS.items() for b in targets} == TASK_ALLOWED
    assert {(a, b) for a, targets in APPLICATION_TRANSITIONS.items() for b in targets} == APPLICATION_ALLOWED
    assert set(TASK_TRANSITIONS) == set(TaskStatus)
    assert set(APPLICATION_TRANSITIONS) == set(ApplicationStatus)


def test_mixed_kinds_refused() -> None:
    with pytest.raises(TypeError):
        transition(T.ready, A.in_progress)  # type: ignore[type-var]


def test_pinned_task_statuses_exist() -> None:
    pinned = {"waiting", "ready", "accepted", "supplement_required", "approved", "rejected"}
    assert pinned <= {s.value for s in TaskStatus}
    assert {s.value for s in ApplicationStatus} == {
        "submitted", "in_progress", "supplement_required", "completed", "rejected", "withdrawn"}


def test_decisions_from_each_status() -> None:
    """Which decision a department may take in which task status (the 409 matrix of the API)."""
    allowed = set()
    for status, kind in itertools.product(TaskStatus, DecisionKind):
        try:
            assert decide(status, kind) is DECISION_TARGET[kind]
        except InvalidTransition:
            continue
        allowed.add((status, kind))
    assert allowed == {
        (T.ready, DecisionKind.accept), (T.ready, DecisionKind.reject), (T.ready, DecisionKind.request_supplement),
        (T.accepted, DecisionKind.approve), (T.accepted, DecisionKind.reject),
        (T.accepted, DecisionKind.request_supplement),
    }


@pytest.mark.parametrize(("current", "tasks", "expected"), [
    (A.submitted, [T.ready, T.waiting], A.submitted),
    (A.submitted, [T.accepted, T.waiting], A.in_progress),
    (A.submitted, [T.supplement_required, T.waiting], A.supplement_required),
    (A.submitted, [T.rejected, T.waiting], A.rejected),
    (A.in_progress, [T.approved, T.ready], A.in_progress),
    (A.in_progress, [T.approved, T.supplement_required], A.supplement_required),
    (A.in_progress, [T.approved, T.approved], A.completed),
    (A.in_progress, [T.approved, T.rejected, T.ready], A.rejected),
    (A.supplement_required, [T.supplement_required, T.rejected], A.rejected),
])
def test_application_follows_tasks(current: ApplicationStatus, tasks: list[TaskStatus],
                                   expected: ApplicationStatus) -> None:
    derived = application_status_for(current, tasks)
    assert derived is expected
    if derived is not current:
        transition(current, derived)  # every derived change is one the table allows


def test_back_from_supplement_is_in_progress() -> None:
    assert application_status_for(A.supplement_required, [T.accepted, T.waiting]) is A.in_progress
    assert application_status_for(A.supplement_required, [T.ready]) is A.in_progress


@pytest.mark.parametrize("final", sorted(APPLICATION_FINAL))
def test_final_statuses_never_change(final: ApplicationStatus) -> None:
    assert application_status_for(final, [T.ready]) is final


def test_ready_successors_need_all_predecessors_approved() -> None:
    after = {"licence": [], "permit": ["licence"], "fire": ["licence"], "sign": ["permit", "fire"]}
    statuses = {"licence": T.approved, "permit": T.waiting, "fire": T.waiting, "sign": T.waiting}
    assert sorted(ready_successors(after, statuses)) == ["fire", "permit"]
    statuses |= {"permit": T.approved, "fire": T.accepted}
    assert ready_successors(after, statuses) == []
    statuses |= {"fire": T.approved}
    assert ready_successors(after, statuses) == ["sign"]


def test_decisions_offered_and_named_by_status() -> None:
    assert allowed_decisions(T.ready) == [DecisionKind.accept, DecisionKind.reject, DecisionKind.request_supplement]
    assert allowed_decisions(T.accepted) == [DecisionKind.approve, DecisionKind.reject,
                                             DecisionKind.request_supplement]
    for status in (T.waiting, T.supplement_required, T.approved, T.rejected, T.cancelled):
        assert allowed_decisions(status) == []
    assert decision_name(T.ready, DecisionKind.reject) == "不予受理"
    assert decision_name(T.accepted, DecisionKind.reject) == "不予许可"
    for status in T:
        for kind in allowed_decisions(status):
            assert decision_name(status, kind) != kind.value  # every offered decision has a Chinese name
