"""Drafters: who writes the email of a step that a person must approve.

A step that needs approval gets its draft from the tenant's drafter. The default, ``TemplateDrafter``, is the
step's template rendered with the lead's data. ``HttpDrafter`` asks a writing service (an AI agent) configured
per tenant (policy ``drafter_url`` and ``drafter_timeout_seconds``) for a draft, and falls back to the template
on any failure — a timeout, a refused connection, an error status, a malformed answer — so a broken service
never holds a sequence up. Every draft says which drafter made it and, on a fallback, why.

The HTTP contract: ``POST <drafter_url>`` with a JSON body ::

    {"lead": {...}, "owner": {...} | null, "sequence": {"name": ...}, "step": {"order": n},
     "template": {"key", "subject", "body"}, "rendered": {"subject", "body"}}

answered by ``200`` and ``{"subject": "...", "body": "..."}``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

TEMPLATE = "template"
MAX_SUBJECT = 998
MAX_BODY = 100_000
# A drafter is called while the enrollment's row is locked: never wait long.
MAX_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Draft:
    """A draft's text, the drafter that wrote it, and (after a fallback) why the preferred drafter did not."""

    subject: str
    body: str
    drafter: str
    fallback_reason: str | None = None


@dataclass(frozen=True)
class DraftRequest:
    """What a drafter may use: the template, its rendering for this lead, and who and where the lead is."""

    template: object
    lead: object
    owner: object | None
    sequence_name: str
    step_order: int
    rendered_subject: str
    rendered_body: str


class Drafter(Protocol):
    name: str

    def draft(self, request: DraftRequest) -> Draft: ...


class TemplateDrafter:
    """The step's template, rendered for the lead: the default, and every other drafter's fallback."""

    name = TEMPLATE

    def draft(self, request: DraftRequest) -> Draft:
        return Draft(request.rendered_subject, request.rendered_body, TEMPLATE)


class HttpDrafter:
    """A writing service behind an HTTP endpoint, with a timeout and the template as its fallback."""

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.timeout = min(max(float(timeout), 0.1), MAX_TIMEOUT_SECONDS)
        self.name = f"http:{urlsplit(url).netloc or url}"[:255]

    def draft(self, request: DraftRequest) -> Draft:
        try:
            subject, body = self._ask(request)
        except DrafterFailed as failure:
            log.warning("drafter %s failed: %s; using the template", self.url, failure)
            return Draft(request.rendered_subject, request.rendered_body, TEMPLATE, str(failure))
        return Draft(subject, body, self.name)

    def _ask(self, request: DraftRequest) -> tuple[str, str]:
        payload = json.dumps(_payload(request)).encode()
        http_request = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:  # noqa: S310 (admin-set http(s) URL)
                raw = response.read(MAX_BODY * 2 + 1)
        except urllib.error.HTTPError as error:
            raise DrafterFailed(f"the writing service answered {error.code}") from error
        except TimeoutError as error:
            raise DrafterFailed(f"the writing service did not answer within {self.timeout:g} s") from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise DrafterFailed(
                    f"the writing service did not answer within {self.timeout:g} s"
                ) from error
            raise DrafterFailed(f"the writing service could not be reached ({error.reason})") from error
        except (OSError, ValueError) as error:
            raise DrafterFailed(f"the writing service could not be reached ({error})") from error
        try:
            answer = json.loads(raw)
        except ValueError as error:
            raise DrafterFailed("the writing service's answer was not JSON") from error
        if not isinstance(answer, dict):
            raise DrafterFailed("the writing service's answer had no subject and body")
        subject, body = answer.get("subject"), answer.get("body")
        if (
            not isinstance(subject, str)
            or not isinstance(body, str)
            or not subject.strip()
            or not body.strip()
        ):
            raise DrafterFailed("the writing service's answer had no subject and body")
        if len(body) > MAX_BODY:
            raise DrafterFailed("the writing service's draft was too long")
        # A header cannot span lines.
        return " ".join(subject.split())[:MAX_SUBJECT], body


class DrafterFailed(Exception):
    """Why a drafter gave no draft, in words a reviewer can read."""


def _payload(request: DraftRequest) -> dict:
    lead, owner, template = request.lead, request.owner, request.template
    return {
        "lead": {
            field: getattr(lead, field)
            for field in (
                "first_name",
                "last_name",
                "email",
                "company",
                "title",
                "status",
                "score",
                "score_band",
                "segment",
                "timezone",
            )
        },
        "owner": {"name": owner.name, "email": owner.email} if owner is not None else None,
        "sequence": {"name": request.sequence_name},
        "step": {"order": request.step_order},
        "template": {"key": template.key, "subject": template.subject, "body": template.body},
        "rendered": {"subject": request.rendered_subject, "body": request.rendered_body},
    }


def drafter_for(tenant) -> Drafter:
    """The tenant's drafter: the HTTP one when ``drafter_url`` is set, else the template."""
    url = (tenant.policy_value("drafter_url") or "").strip()
    if not url:
        return TemplateDrafter()
    return HttpDrafter(url, tenant.policy_value("drafter_timeout_seconds"))
