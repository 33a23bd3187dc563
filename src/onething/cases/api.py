"""What other contexts (web, CLI, demo, metrics) use from cases: the service functions and their errors."""

from onething.cases.deadlines import due_soon, late_words, lateness, overdue
from onething.cases.dispatch import LABELS as DELIVERY_LABELS
from onething.cases.dispatch import allowed_methods as delivery_methods
from onething.cases.dispatch import record_dispatch
from onething.cases.errors import (
    CaseError,
    Conflict,
    DailyUploadQuotaExceeded,
    Invalid,
    PreconditionFailed,
    PreconditionRequired,
    TooLarge,
    UnsupportedType,
    UploadQuotaExceeded,
)
from onething.cases.files import attach_file
from onething.cases.model import ApplicationStatus, DecisionKind, InvalidTransition, TaskStatus
from onething.cases.prefill import (
    ConsentOffer,
    Prefilled,
    consent_offer,
    consent_to_prefill,
    new_ref,
    own_consent,
    prefill,
)
from onething.cases.queries import (
    application_numbers,
    get_application,
    get_task,
    list_applications,
    list_tasks,
    results,
)
from onething.cases.rating import answer_rectification, list_rectifications, rate_application
from onething.cases.receipt import Receipt, receipt
from onething.cases.receipt import render_pdf as render_receipt_pdf
from onething.cases.service import (
    Decision,
    Submitted,
    answer_supplement,
    decide_task,
    submit_application,
    withdraw_application,
)
from onething.cases.workbench import (
    QUEUE_SORTS,
    QueuePage,
    QueueQuery,
    applicant_of,
    certificate_preview,
    queue,
    rating_of,
)

__all__ = [
    "DELIVERY_LABELS",
    "QUEUE_SORTS",
    "ApplicationStatus",
    "CaseError",
    "Conflict",
    "ConsentOffer",
    "DailyUploadQuotaExceeded",
    "Decision",
    "DecisionKind",
    "Invalid",
    "InvalidTransition",
    "PreconditionFailed",
    "PreconditionRequired",
    "Prefilled",
    "QueuePage",
    "QueueQuery",
    "Receipt",
    "Submitted",
    "TaskStatus",
    "TooLarge",
    "UnsupportedType",
    "UploadQuotaExceeded",
    "answer_rectification",
    "answer_supplement",
    "applicant_of",
    "application_numbers",
    "attach_file",
    "certificate_preview",
    "consent_offer",
    "consent_to_prefill",
    "decide_task",
    "delivery_methods",
    "due_soon",
    "get_application",
    "get_task",
    "late_words",
    "lateness",
    "list_applications",
    "list_rectifications",
    "list_tasks",
    "new_ref",
    "overdue",
    "own_consent",
    "prefill",
    "queue",
    "rate_application",
    "rating_of",
    "receipt",
    "record_dispatch",
    "render_receipt_pdf",
    "results",
    "submit_application",
    "withdraw_application",
]
