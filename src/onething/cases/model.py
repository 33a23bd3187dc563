"""Case domain types: statuses, the explicit transition tables, and the rules that derive one from another.

Pure: no database, no clock. A task (办件环节) is one department's procedure within an application (办件);
its status moves only along ``TASK_TRANSITIONS`` and the application's along ``APPLICATION_TRANSITIONS``,
both applied by :func:`transition`, which raises :class:`InvalidTransition` for any other pair. The tests walk
every pair of both tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TypeVar


class TaskStatus(StrEnum):
    """Status of one department task (办件环节状态)."""

    waiting = "waiting"                          # 等待前置事项
    ready = "ready"                              # 待受理
    accepted = "accepted"                        # 已受理，办理中
    supplement_required = "supplement_required"  # 补正中 (clock paused)
    approved = "approved"                        # 已办结（准予）
    rejected = "rejected"                        # 不予受理 / 不予许可
    # Extension of the pinned list: a task that can no longer be decided because its application was
    # withdrawn or rejected elsewhere (终止); keeps department queues free of dead work.
    cancelled = "cancelled"


class ApplicationStatus(StrEnum):
    """Status of an application for one thing (办件状态)."""

    submitted = "submitted"                      # 已提交
    in_progress = "in_progress"                  # 办理中
    supplement_required = "supplement_required"  # 待补正
    completed = "completed"                      # 已办结，统一出件
    rejected = "rejected"                        # 不予办理
    withdrawn = "withdrawn"                      # 已撤回


class DecisionKind(StrEnum):
    """What a department decides on a task (审批决定)."""

    accept = "accept"                            # 受理
    approve = "approve"                          # 准予
    reject = "reject"                            # 不予受理/不予许可
    request_supplement = "request_supplement"    # 补正告知


T = TaskStatus
A = ApplicationStatus

TASK_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    T.waiting: frozenset({T.ready, T.cancelled}),
    # Before acceptance a department may still refuse (不予受理) or ask for missing items (一次性告知补正).
    T.ready: frozenset({T.accepted, T.supplement_required, T.rejected, T.cancelled}),
    T.accepted: frozenset({T.approved, T.rejected, T.supplement_required, T.cancelled}),
    # An answered supplement sends the task back to work, accepted.
    T.supplement_required: frozenset({T.accepted, T.cancelled}),
    T.approved: frozenset(),
    T.rejected: frozenset(),
    T.cancelled: frozenset(),
}

APPLICATION_TRANSITIONS: Mapping[ApplicationStatus, frozenset[ApplicationStatus]] = {
    A.submitted: frozenset({A.in_progress, A.supplement_required, A.rejected, A.withdrawn}),
    A.in_progress: frozenset({A.supplement_required, A.completed, A.rejected, A.withdrawn}),
    A.supplement_required: frozenset({A.in_progress, A.rejected, A.withdrawn}),
    A.completed: frozenset(),
    A.rejected: frozenset(),
    A.withdrawn: frozenset(),
}

DECISION_TARGET: Mapping[DecisionKind, TaskStatus] = {
    DecisionKind.accept: T.accepted,
    DecisionKind.approve: T.approved,
    DecisionKind.reject: T.rejected,
    DecisionKind.request_supplement: T.supplement_required,
}

# What each decision is called in the status it is taken from (决定名称): a refusal before acceptance is
# 不予受理, after acceptance 不予许可 — the page and the audit read the name from here, not from a template.
DECISION_NAMES: Mapping[tuple[TaskStatus, DecisionKind], str] = {
    (T.ready, DecisionKind.accept): "受理",
    (T.ready, DecisionKind.request_supplement): "补正告知",
    (T.ready, DecisionKind.reject): "不予受理",
    (T.accepted, DecisionKind.approve): "办结（准予许可）",
    (T.accepted, DecisionKind.request_supplement): "补正告知",
    (T.accepted, DecisionKind.reject): "不予许可",
}

# The document fields (文书) each decision needs, by form name: an approval names its document and number.
DECISION_DOCUMENT_FIELDS: Mapping[DecisionKind, tuple[str, ...]] = {
    DecisionKind.approve: ("document", "number"),
}

TASK_OPEN = frozenset({T.waiting, T.ready, T.accepted, T.supplement_required})
"""Task statuses that still expect work (and can be cancelled)."""

APPLICATION_ACTIVE = frozenset({A.submitted, A.in_progress, A.supplement_required})
APPLICATION_FINAL = frozenset({A.completed, A.rejected, A.withdrawn})


class InvalidTransition(Exception):
    """A status change that the transition table does not allow."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        self.kind, self.current, self.target = kind, current, target
        super().__init__(f"{kind} cannot go from {current} to {target}")


S = TypeVar("S", TaskStatus, ApplicationStatus)


def transition(current: S, target: S) -> S:
    """Apply one status change of a task or an application; raise InvalidTransition if not allowed."""
    if isinstance(current, TaskStatus) and isinstance(target, TaskStatus):
        allowed: frozenset[TaskStatus] | frozenset[ApplicationStatus] = TASK_TRANSITIONS[current]
        kind = "task"
    elif isinstance(current, ApplicationStatus) and isinstance(target, ApplicationStatus):
        allowed = APPLICATION_TRANSITIONS[current]
        kind = "application"
    else:
        raise TypeError("current and target must be statuses of the same kind")
    if target not in allowed:
        raise InvalidTransition(kind, current.value, target.value)
    return target


def decide(current: TaskStatus, kind: DecisionKind) -> TaskStatus:
    """The status a department's decision moves a task to, by the transition table.

    A task paused for a supplement (补正中) is not the department's to move: only the applicant's answer
    resumes it, so every decision on it is refused.
    """
    target = DECISION_TARGET[kind]
    if current is T.supplement_required:
        raise InvalidTransition("task", current.value, target.value)
    return transition(current, target)


def allowed_decisions(current: TaskStatus) -> list[DecisionKind]:
    """The decisions the transition table allows on a task in ``current``, in the order they are offered."""
    allowed = []
    for kind in DecisionKind:
        try:
            decide(current, kind)
        except InvalidTransition:
            continue
        allowed.append(kind)
    return allowed


def decision_name(current: TaskStatus, kind: DecisionKind) -> str:
    """The decision's name in the task's status (不予受理 at intake, 不予许可 after acceptance)."""
    return DECISION_NAMES.get((current, kind), kind.value)


def application_status_for(current: ApplicationStatus, tasks: Iterable[TaskStatus]) -> ApplicationStatus:
    """The status an application should have given its tasks (办件状态跟随环节).

    Any rejection rejects the whole; all approved completes it; an open supplement makes it wait for the
    applicant; once any department has started it is in progress. Final statuses never change here.
    """
    if current in APPLICATION_FINAL:
        return current
    statuses = list(tasks)
    if any(s is T.rejected for s in statuses):
        return A.rejected
    if statuses and all(s is T.approved for s in statuses):
        return A.completed
    if any(s is T.supplement_required for s in statuses):
        return A.supplement_required
    if any(s in (T.accepted, T.approved) for s in statuses):
        return A.in_progress
    # Back from a supplement with nothing else started: work continues.
    return A.in_progress if current is A.supplement_required else current


def ready_successors(after: Mapping[str, Iterable[str]], statuses: Mapping[str, TaskStatus]) -> list[str]:
    """Procedures whose task waits and whose predecessors (in the plan's DAG) are all approved."""
    return [
        proc for proc, preds in after.items()
        if statuses.get(proc) is T.waiting and all(statuses.get(p) is T.approved for p in preds)
    ]
