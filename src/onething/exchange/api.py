"""What other contexts (cases) use from the exchange: facts for intake, the consent screen, consent
lifecycle around an application, and the refusals they may need to show.

Cases calls, during intake::

    proposal = propose_consent(catalog, plan)                 # show the applicant exactly what is asked
    consent = grant_consent(session, catalog, applicant, application_ref=ref, purpose=proposal.purpose,
                            procedures=proposal.procedures, resources=proposal.resources,
                            fields=proposal.fields, expires_at=promised_due_at + grace, now=now)
    facts = facts_for(session, catalog, applicant, subject=applicant.id_number, plan=plan,
                      application_ref=ref, consent_id=consent.id, now=now)
    plan = intake.plan(catalog, thing, answers, facts)        # prefilled fields, exempt materials

and when the application closes: ``close_consents_for(session, ref, closed_at, after_close_days=…)``.
``get_consent`` reads one consent back (whose it is, its reference, its state); ``list_corrections`` tells
which of an applicant's data errors are still open (a field they reported stays editable).
"""

from onething.exchange.consents import (
    cached_facts,
    close_consents_for,
    draft_submitted,
    get_consent,
    grant_consent,
    propose_consent,
    remember_facts,
    resource_needs,
    revoke_consent,
    touch_draft,
)
from onething.exchange.errors import ConsentRequired, FetchRefused, InvalidRequest, ProviderUnavailable
from onething.exchange.fetch import checked_collect_facts, collect_facts, facts_for
from onething.exchange.model import Consent, ConsentProposal, ConsentState, CorrectionStatus, FactsReport, FetchResult
from onething.exchange.relations import RelationshipProof, prove_relationship
from onething.exchange.uses import list_corrections
from onething.intake.model import KnownFacts

__all__ = [
    "Consent",
    "ConsentProposal",
    "ConsentRequired",
    "ConsentState",
    "CorrectionStatus",
    "FactsReport",
    "FetchRefused",
    "FetchResult",
    "InvalidRequest",
    "KnownFacts",
    "ProviderUnavailable",
    "RelationshipProof",
    "cached_facts",
    "checked_collect_facts",
    "close_consents_for",
    "collect_facts",
    "draft_submitted",
    "facts_for",
    "get_consent",
    "grant_consent",
    "list_corrections",
    "propose_consent",
    "prove_relationship",
    "remember_facts",
    "resource_needs",
    "revoke_consent",
    "touch_draft",
]
