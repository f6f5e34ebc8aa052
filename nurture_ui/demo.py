"""Demo data for `make run` and for people trying the product: one tenant, a user per role,
a few hundred varied leads, templates and two sample sequences. Deterministic: the same every time."""

from __future__ import annotations

import random
from datetime import timedelta

from nurture_ui import clock
from nurture_ui.accounts import create_tenant, create_user
from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, Lead, Sequence, SequenceStep, Tenant

DEMO_PASSWORD = "nurture-demo"
DEMO_USERS = (
    ("admin", "admin@demo.test", "Ada Admin"),
    ("marketer", "marketer@demo.test", "Mia Marketer"),
    ("rep", "rep@demo.test", "Rob Rep"),
    ("manager", "manager@demo.test", "Max Manager"),
    ("rep", "rep2@demo.test", "Rita Rep"),
)

FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Jamie",
    "Riley",
    "Avery",
    "Quinn",
    "Priya",
    "Chen",
    "Lena",
    "Omar",
    "Sofia",
    "Lukas",
    "Aiko",
    "Mateo",
    "Nora",
    "Ivan",
]
LAST = [
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "Tanaka",
    "Kowalski",
    "Silva",
    "Novak",
    "Jensen",
    "Patel",
    "Kim",
    "Okafor",
    "Larsen",
    "Costa",
    "Weber",
    "Ali",
    "Berg",
    "Moreau",
    "Haas",
]
COMPANIES = (
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella Analytics",
    "Stark Logistics",
    "Wayne Foods",
    "Acme Robotics",
    "Hooli",
    "Vandelay Imports",
    "Soylent Labs",
    "Tyrell Systems",
    "Cyberdyne Health",
    "Aperture Learning",
    "Monarch Retail",
    "Pied Piper",
    "Gringotts Finance",
    "Oceanic Air",
    "Blue Sun Energy",
)
TITLES = (
    "Head of Sales",
    "VP Marketing",
    "Operations Manager",
    "CTO",
    "Founder",
    "RevOps Lead",
    "Procurement",
)
SEGMENTS = ("SMB", "Mid-market", "Enterprise")
TIMEZONES = (
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
)
STATUS_WEIGHTS = {"new": 35, "contacted": 25, "qualified": 20, "converted": 10, "disqualified": 10}
BAND_WEIGHTS = {"cold": 40, "warm": 40, "hot": 20}

TEMPLATES = (
    (
        "intro",
        "Intro",
        "Quick idea for {{ lead.company }}",
        "Hi {{ lead.first_name }},\n\nI work with teams like {{ lead.company }} on keeping warm leads warm. "
        "Would a 15-minute call next week be useful?\n\nBest,\n{{ owner.name }}",
        True,
    ),
    (
        "case-study",
        "Case study",
        "How a team like yours cut follow-up time in half",
        "Hi {{ lead.first_name }},\n\nThought you might like this short case study. Happy to walk you through it."
        "\n\n{{ owner.name }}",
        True,
    ),
    (
        "check-in",
        "Check-in",
        "Still on your radar, {{ lead.first_name }}?",
        "Hi {{ lead.first_name }},\n\nJust checking whether this is still a priority for {{ lead.company }}."
        "\n\n{{ owner.name }}",
        False,
    ),
    (
        "breakup",
        "Last note",
        "Should I close your file?",
        "Hi {{ lead.first_name }},\n\nI haven't heard back, so I'll assume the timing isn't right. "
        "If that changes, just reply.\n\n{{ owner.name }}",
        False,
    ),
)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def seed_demo(lead_count: int = 300) -> Tenant:
    """Create the demo tenant with its users, leads, templates and sequences (committed)."""
    rng = random.Random(42)
    tenant = create_tenant("Acme Demo", slug="demo")
    users = [
        create_user(tenant=tenant, email=email, name=name, role=role, password=DEMO_PASSWORD)
        for role, email, name in DEMO_USERS
    ]
    reps = [u for u in users if u.role == "rep"]
    admin = users[0]
    now = clock.now()

    for i in range(lead_count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANIES)
        band = _weighted(rng, BAND_WEIGHTS)
        score = {"cold": rng.randint(0, 39), "warm": rng.randint(40, 74), "hot": rng.randint(75, 100)}[band]
        domain = company.lower().replace(" ", "") + ".example"
        db.session.add(
            Lead(
                tenant_id=tenant.id,
                email=f"{first.lower()}.{last.lower()}.{i}@{domain}",
                first_name=first,
                last_name=last,
                company=company,
                title=rng.choice(TITLES),
                phone=f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                status=_weighted(rng, STATUS_WEIGHTS),
                score=score,
                score_band=band,
                segment=rng.choice(SEGMENTS),
                owner_id=rng.choice(reps).id if rng.random() < 0.9 else None,
                timezone=rng.choice(TIMEZONES),
                do_not_contact=rng.random() < 0.03,
                created_at=now - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440)),
            )
        )

    for key, name, subject, body, pre_approved in TEMPLATES:
        db.session.add(
            EmailTemplate(
                tenant_id=tenant.id,
                key=key,
                name=name,
                subject=subject,
                body=body,
                pre_approved=pre_approved,
                created_by=admin.id,
            )
        )

    warm = Sequence(
        tenant_id=tenant.id,
        name="Warm lead nurture",
        description="Three touches over two weeks for warm leads that are not ready yet.",
        status="active",
        entry_rules={
            "all": [
                {"field": "status", "op": "in", "value": ["new", "contacted", "qualified"]},
                {"field": "score_band", "op": "in", "value": ["warm"]},
                {"no_open_reply_within_days": 14},
            ]
        },
        priority=10,
        created_by=admin.id,
    )
    warm.steps = [
        SequenceStep(tenant_id=tenant.id, step_order=1, channel="email", delay_hours=0, template_id="intro"),
        SequenceStep(
            tenant_id=tenant.id,
            step_order=2,
            channel="call_reminder",
            delay_hours=48,
            instructions="Call to follow up on the intro email.",
        ),
        SequenceStep(
            tenant_id=tenant.id, step_order=3, channel="email", delay_hours=96, template_id="case-study"
        ),
        SequenceStep(
            tenant_id=tenant.id,
            step_order=4,
            channel="email",
            delay_hours=120,
            template_id="check-in",
            requires_human_approval=True,
        ),
    ]
    webinar = Sequence(
        tenant_id=tenant.id,
        name="Post-webinar follow-up",
        description="For enterprise leads who attended a webinar.",
        status="draft",
        entry_rules={"all": [{"field": "segment", "op": "eq", "value": "Enterprise"}]},
        priority=20,
        created_by=admin.id,
    )
    webinar.steps = [
        SequenceStep(
            tenant_id=tenant.id,
            step_order=1,
            channel="email",
            delay_hours=24,
            template_id="case-study",
            requires_human_approval=True,
        ),
        SequenceStep(
            tenant_id=tenant.id,
            step_order=2,
            channel="task",
            delay_hours=72,
            instructions="Connect on LinkedIn and note their main interest.",
        ),
        SequenceStep(
            tenant_id=tenant.id,
            step_order=3,
            channel="email",
            delay_hours=168,
            template_id="breakup",
            # A last nudge in the case study's thread, only to leads who have not answered it.
            same_thread=True,
            only_if_not_replied=True,
        ),
    ]
    db.session.add_all([warm, webinar])
    db.session.commit()
    return tenant


# Replies some demo leads send while the history replays: (day, text). The classifier reads them.
DEMO_REPLIES = (
    (2.5, "Thanks for reaching out! Yes, this is interesting — could we book a call next Tuesday?"),
    (3.2, "I am out of the office until next Monday with limited access to email."),
    (4.1, "Not interested at the moment, thanks."),
    (5.6, "Please remove me from your mailing list."),
    (6.3, "Sounds good, send me some times for a demo."),
)


def replay_history(tenant: Tenant, days: int = 17) -> None:
    """Give the demo a past: enroll the warm leads ``days`` ago and run the engine hour by hour up to now,
    with a few replies along the way, so timelines, the inbox, the task queue and the figures have content.

    Emails are queued, not sent, while replaying; the running worker sends them to the capture server.
    """
    import sqlalchemy as sa

    from nurture_ui import signals
    from nurture_ui.engine.replay import run_due
    from nurture_ui.engine.transitions import complete_task
    from nurture_ui.enrollment import auto_enroll
    from nurture_ui.models import Enrollment, Task

    rng = random.Random(7)

    now = clock.now()
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    with clock.frozen_at(start):
        auto_enroll(now=start, tenant_id=tenant.id)
    enrolled = list(
        db.session.scalars(
            sa.select(Enrollment.lead_id).where(Enrollment.tenant_id == tenant.id).order_by(Enrollment.id)
        )
    )
    pending = [
        (start + timedelta(days=day), lead_id, text)
        for (day, text), lead_id in zip(DEMO_REPLIES, enrolled[:: max(1, len(enrolled) // 8)], strict=False)
    ]
    instant = start
    while instant <= now:
        run_due(instant, send=False)
        with clock.frozen_at(instant):
            for when, lead_id, text in [p for p in pending if p[0] <= instant]:
                signals.record_reply(db.session.get(Lead, lead_id), text, received_at=when)
                pending.remove((when, lead_id, text))
            db.session.commit()
            if instant.hour == 15 and instant < now - timedelta(days=1):
                # Reps work their call list in the afternoon: most calls get made, some wait.
                open_tasks = db.session.execute(
                    sa.select(Task.id, Task.assignee_id).where(
                        Task.tenant_id == tenant.id, Task.status == "open", Task.due_at <= instant
                    )
                ).all()
                for task_id, assignee_id in open_tasks:
                    if rng.random() < 0.7:
                        outcome = rng.choice(("connected", "voicemail", "no_answer", "voicemail"))
                        complete_task(task_id, user_id=assignee_id, now=instant, outcome=outcome)
        instant += timedelta(hours=1)
    run_due(now, send=False)
