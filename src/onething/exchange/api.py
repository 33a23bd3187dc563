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
"""

from onething.exchange.consents import close_consents_for, grant_consent, propose_consent, revoke_consent
from onething.exchange.errors import ConsentRequired, FetchRefused, ProviderUnavailable
from onething.exchange.fetch import collect_facts, facts_for
from onething.exchange.model import ConsentProposal, FactsReport
from onething.intake.model import KnownFacts

__all__ = [
    "ConsentProposal",
    "ConsentRequired",
    "FactsReport",
    "FetchRefused",
    "KnownFacts",
    "ProviderUnavailable",
    "close_consents_for",
    "collect_facts",
    "facts_for",
    "grant_consent",
    "propose_consent",
    "revoke_consent",
]
