"""How sequences perform: every figure an aggregate query in the database, none counted in Python.

A sequence's figures are about a *cohort*: its enrollments that started in a date range, followed to
today. So the funnel never grows from one stage to the next, and a range always means the same leads.

- enrolled: enrollments started in the range
- reached step N: enrollments whose step N ran or was skipped (``nurture_step_executed``)
- replied: enrollments whose lead replied (positive, neutral or negative) while enrolled
- converted: enrollments whose lead has converted since

Each query reads through an index on the sequence (``ix_enrollments_sequence_enrolled_on``,
``ix_activities_step_runs``, ``ix_messages_sequence_step``) and the lead (replies); on PostgreSQL most
are answered from the index alone (migration 0005).
The manager overview's figures live in ``nurture_ui.overview``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply, OutboundMessage, Sequence, SequenceStep
from nurture_ui.signals import CONVERSATION

DEFAULT_DAYS = 90


@dataclass(frozen=True)
class DateRange:
    """Enrollment start dates ``start`` ≤ d < ``end`` (UTC); ``start`` None means since the beginning."""

    start: datetime | None
    end: datetime

    @classmethod
    def parse(cls, start: str | None, end: str | None, *, now: datetime) -> DateRange:
        """From ``YYYY-MM-DD`` strings (both inclusive days); the last 90 days when none is given,
        everything when ``start`` is ``all``. Bad input falls back to the default rather than failing."""

        def day(value: str | None) -> date | None:
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                return None

        last = day(end) or now.date()
        stop = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
        if start == "all":
            return cls(None, stop)
        first = day(start) or (last - timedelta(days=DEFAULT_DAYS - 1))
        if first > last:
            first, last = last, first
            stop = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
        return cls(datetime.combine(first, time(0), tzinfo=UTC), stop)

    @property
    def first_day(self) -> date | None:
        return self.start.date() if self.start else None

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def args(self) -> dict[str, str]:
        return {
            "from": self.first_day.isoformat() if self.first_day else "all",
            "to": self.last_day.isoformat(),
        }


def _cohort(sequence_id: uuid.UUID, span: DateRange):
    conditions = [Enrollment.sequence_id == sequence_id, Enrollment.enrolled_on < span.end]
    if span.start is not None:
        conditions.append(Enrollment.enrolled_on >= span.start)
    return sa.and_(*conditions)


def _count_if(condition) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _replied_while_enrolled(now: datetime):
    """EXISTS a conversation reply from the enrollment's lead between its start and its end (or now)."""
    return sa.exists().where(
        LeadReply.lead_id == Enrollment.lead_id,
        # Implied by the lead, but it lets the database read only this tenant's replies, not every tenant's.
        LeadReply.tenant_id == Enrollment.tenant_id,
        LeadReply.received_at >= Enrollment.enrolled_on,
        LeadReply.received_at <= sa.func.coalesce(Enrollment.ended_on, now),
        LeadReply.sentiment.in_(CONVERSATION),
    )


@dataclass
class Headline:
    enrolled: int = 0
    running: int = 0
    completed: int = 0
    exited: int = 0
    replied: int = 0
    converted: int = 0

    def rate(self, part: int) -> float | None:
        return round(100 * part / self.enrolled, 1) if self.enrolled else None


def headlines(
    tenant_id: uuid.UUID, span: DateRange, now: datetime, sequence_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, Headline]:
    """Per sequence of the tenant: its cohort's size, where it stands now, replies and conversions."""
    where = [Enrollment.tenant_id == tenant_id, Enrollment.enrolled_on < span.end]
    if span.start is not None:
        where.append(Enrollment.enrolled_on >= span.start)
    if sequence_ids is not None:
        where.append(Enrollment.sequence_id.in_(sequence_ids))
    rows = db.session.execute(
        sa.select(
            Enrollment.sequence_id,
            sa.func.count(),
            _count_if(Enrollment.status.in_(("active", "paused"))),
            _count_if(Enrollment.status == "completed"),
            _count_if(Enrollment.status == "exited"),
            # A semi-join on the tenant's converted leads (an index range), not a join with every lead.
            _count_if(
                Enrollment.lead_id.in_(
                    sa.select(Lead.id).where(Lead.tenant_id == tenant_id, Lead.status == "converted")
                )
            ),
        )
        .where(*where)
        .group_by(Enrollment.sequence_id)
    ).all()
    result = {row[0]: Headline(*map(int, row[1:5]), converted=int(row[5])) for row in rows}
    replied = db.session.execute(
        sa.select(Enrollment.sequence_id, sa.func.count())
        .where(*where, _replied_while_enrolled(now))
        .group_by(Enrollment.sequence_id)
    ).all()
    for sequence_id, count in replied:
        result.setdefault(sequence_id, Headline()).replied = int(count)
    return result


@dataclass
class StepFigures:
    step: SequenceStep
    reached: int = 0
    executed: int = 0
    skipped: int = 0
    sent: int = 0
    reviewed: int = 0
    approved: int = 0
    rejected: int = 0
    pending: int = 0
    median_wait_seconds: float | None = None
    replies_after: int = 0

    @property
    def approval_rate(self) -> float | None:
        decided = self.approved + self.rejected
        return round(100 * self.approved / decided, 1) if decided else None


@dataclass
class Performance:
    sequence: Sequence
    span: DateRange
    headline: Headline
    steps: list[StepFigures]
    exits: list[tuple[str, int]]
    over_time: list[tuple[date, int]]
    bucket: str
    replies_before_first_step: int = 0
    funnel: list[tuple[str, int]] = field(default_factory=list)
    # The A/B steps' variants and verdicts (nurture_ui.variant_results), in step order.
    ab_tests: list = field(default_factory=list)


def _step_number():
    return Activity.data["step"].as_integer()


def _seconds_between(earlier, later):
    if db.engine.dialect.name == "postgresql":
        return sa.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def _bucket_expression(column, bucket: str):
    # Constants inlined, not bound: PostgreSQL must see the GROUP BY expression equal to the selected one.
    if db.engine.dialect.name == "postgresql":
        return sa.func.date_trunc(
            sa.literal_column(f"'{bucket}'"), sa.func.timezone(sa.literal_column("'UTC'"), column)
        )
    modifiers = {"day": (), "week": ("'weekday 0'", "'-6 days'"), "month": ("'start of month'",)}[bucket]
    return sa.func.date(column, *map(sa.literal_column, modifiers))


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _bucket_starts(first: date, last: date, bucket: str) -> list[date]:
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    elif bucket == "month":
        first = first.replace(day=1)
    days = []
    current = first
    while current <= last:
        days.append(current)
        if bucket == "day":
            current += timedelta(days=1)
        elif bucket == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return days


def _median_per_step(waits) -> sa.Select:
    """(step, median wait) of a subquery of (step, wait) rows: the middle wait, or the mean of the middle two."""
    if db.engine.dialect.name == "postgresql":
        # The same figure in one sorted pass, instead of two window functions over every row.
        median = sa.func.percentile_cont(0.5).within_group(waits.c.wait)
        return sa.select(waits.c.step, median).group_by(waits.c.step)
    ranked = sa.select(
        waits.c.step,
        waits.c.wait,
        sa.func.row_number().over(partition_by=waits.c.step, order_by=waits.c.wait).label("rn"),
        sa.func.count().over(partition_by=waits.c.step).label("n"),
    ).subquery()
    return (
        sa.select(ranked.c.step, sa.func.avg(ranked.c.wait))
        .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
        .group_by(ranked.c.step)
    )


def enrollments_over_time(
    sequence_id: uuid.UUID, span: DateRange, now: datetime
) -> tuple[list[tuple[date, int]], str]:
    """Enrollments started per day (per week beyond two months, per month beyond two years), gaps as 0."""
    # The axis starts at the range's start, or at the sequence's first enrollment when that came later.
    earliest = db.session.scalar(
        sa.select(sa.func.min(Enrollment.enrolled_on)).where(Enrollment.sequence_id == sequence_id)
    )
    first = span.first_day
    if earliest is not None and (first is None or _as_date(earliest) > first):
        first = min(_as_date(earliest), span.last_day)
    if first is None:
        first = span.last_day
    last = min(span.last_day, now.date()) if first <= now.date() else span.last_day
    days = (last - first).days + 1
    bucket = "day" if days <= 62 else ("week" if days <= 731 else "month")
    expression = _bucket_expression(Enrollment.enrolled_on, bucket)
    counts = {
        _as_date(b): int(n)
        for b, n in db.session.execute(
            sa.select(expression, sa.func.count()).where(_cohort(sequence_id, span)).group_by(expression)
        ).all()
    }
    return [(d, counts.get(d, 0)) for d in _bucket_starts(first, last, bucket)], bucket


def sequence_performance(sequence: Sequence, span: DateRange, now: datetime) -> Performance:
    """Every figure of the performance page for ``sequence``'s cohort in ``span``."""
    session = db.session
    cohort = _cohort(sequence.id, span)
    headline = headlines(sequence.tenant_id, span, now, [sequence.id]).get(sequence.id, Headline())
    steps = list(
        session.scalars(
            sa.select(SequenceStep)
            .where(SequenceStep.sequence_id == sequence.id)
            .order_by(SequenceStep.step_order)
        )
    )
    figures = {s.step_order: StepFigures(step=s) for s in steps}
    everything = span.start is None and span.end > now

    def in_cohort(stmt, enrollment_id):
        """Restrict rows pointing at an enrollment to the cohort's; all time needs no join at all."""
        if everything:
            return stmt
        return stmt.join(Enrollment, Enrollment.id == enrollment_id).where(cohort)

    # Steps that ran or were skipped, from the activity log.
    step = _step_number()
    skipped = Activity.data["outcome"].as_string() == "skipped"
    executed_where = [Activity.sequence_id == sequence.id, Activity.type == "nurture_step_executed"]
    if span.start is not None:  # nothing of the cohort happened before it started: a tighter index range
        executed_where.append(Activity.occurred_at >= span.start)
    for number, total, n_skipped in session.execute(
        in_cohort(sa.select(step, sa.func.count(), _count_if(skipped)), Activity.enrollment_id)
        .where(*executed_where)
        .group_by(step)
    ).all():
        if number in figures:
            f = figures[number]
            f.reached, f.skipped, f.executed = int(total), int(n_skipped), int(total) - int(n_skipped)

    # Messages by step: sent, and the review outcomes of those that needed a person.
    m = OutboundMessage
    for number, sent, reviewed, approved, rejected, pending in session.execute(
        in_cohort(
            sa.select(
                m.step_order,
                _count_if(m.status == "sent"),
                _count_if(m.reviewed_at.is_not(None)),
                _count_if(sa.and_(m.reviewed_at.is_not(None), m.status != "rejected")),
                _count_if(m.status == "rejected"),
                _count_if(m.status == "pending_approval"),
            ),
            m.enrollment_id,
        )
        .where(m.sequence_id == sequence.id)
        .group_by(m.step_order)
    ).all():
        if number in figures:
            f = figures[number]
            f.sent, f.reviewed, f.approved, f.rejected, f.pending = map(
                int, (sent, reviewed, approved, rejected, pending)
            )

    # The median time a draft waited for its review, per step: the middle row(s) of each step's waits.
    waits = (
        in_cohort(
            sa.select(
                m.step_order.label("step"), _seconds_between(m.created_at, m.reviewed_at).label("wait")
            ),
            m.enrollment_id,
        )
        .where(m.sequence_id == sequence.id, m.reviewed_at.is_not(None))
        .subquery()
    )
    for number, median in session.execute(_median_per_step(waits)).all():
        if number in figures and median is not None:
            figures[number].median_wait_seconds = float(median)

    # Replies while enrolled, each credited to the last step that ran before it (none: before the first).
    # The sequence's step runs are joined in one pass over their index (``ix_activities_step_runs``), not
    # looked up reply by reply.
    run_conditions = [
        Activity.enrollment_id == Enrollment.id,
        Activity.sequence_id == sequence.id,
        Activity.type == "nurture_step_executed",
        Activity.occurred_at <= LeadReply.received_at,
        sa.func.coalesce(Activity.data["outcome"].as_string(), "") != "skipped",
    ]
    if span.start is not None:
        run_conditions.append(Activity.occurred_at >= span.start)
    credited = (
        sa.select(sa.func.max(_step_number()).label("step"))
        .select_from(Enrollment)
        .join(
            LeadReply,
            sa.and_(
                LeadReply.lead_id == Enrollment.lead_id,
                LeadReply.received_at >= Enrollment.enrolled_on,
                LeadReply.received_at <= sa.func.coalesce(Enrollment.ended_on, now),
            ),
        )
        .outerjoin(Activity, sa.and_(*run_conditions))
        .where(cohort, LeadReply.sentiment.in_(CONVERSATION))
        .group_by(Enrollment.id, LeadReply.id)
        .subquery()
    )
    before_first = 0
    for number, count in session.execute(
        sa.select(credited.c.step, sa.func.count()).group_by(credited.c.step)
    ).all():
        if number is None:
            before_first = int(count)
        elif number in figures:
            figures[number].replies_after = int(count)

    exits = [
        (reason or "unknown", int(count))
        for reason, count in session.execute(
            sa.select(Enrollment.exit_reason, sa.func.count())
            .where(cohort, Enrollment.status == "exited")
            .group_by(Enrollment.exit_reason)
            .order_by(sa.func.count().desc(), Enrollment.exit_reason)
        ).all()
    ]
    over_time, bucket = enrollments_over_time(sequence.id, span, now)
    from nurture_ui.variant_results import step_test

    ab_tests = [step_test(s, None if everything else cohort) for s in steps if s.variants]
    ordered = [figures[s.step_order] for s in steps]
    funnel = [("Enrolled", headline.enrolled)]
    funnel += [(f"Reached step {f.step.step_order}", f.reached) for f in ordered]
    funnel += [("Replied", headline.replied), ("Converted", headline.converted)]
    return Performance(
        sequence=sequence,
        span=span,
        headline=headline,
        steps=ordered,
        exits=exits,
        over_time=over_time,
        bucket=bucket,
        replies_before_first_step=before_first,
        funnel=funnel,
        ab_tests=ab_tests,
    )


def csv_rows(performance: Performance, chart: str) -> list[list]:
    """The numbers behind one chart of the performance page, as rows with a header first."""
    p = performance
    if chart == "funnel":
        return [["stage", "enrollments"], *([label, n] for label, n in p.funnel)]
    if chart == "exits":
        return [["exit_reason", "enrollments"], *([reason, n] for reason, n in p.exits)]
    if chart == "over_time":
        return [[f"{p.bucket}_starting", "enrollments"], *([d.isoformat(), n] for d, n in p.over_time)]
    if chart == "steps":
        header = [
            "step", "channel", "reached", "executed", "skipped", "sent", "reviewed", "approved", "rejected",
            "pending_approval", "approval_rate_percent", "median_wait_hours", "replies_after",
        ]  # fmt: skip
        rows = [header]
        for f in p.steps:
            rows.append(
                [
                    f.step.step_order, f.step.channel, f.reached, f.executed, f.skipped, f.sent, f.reviewed,
                    f.approved, f.rejected, f.pending,
                    "" if f.approval_rate is None else f.approval_rate,
                    "" if f.median_wait_seconds is None else round(f.median_wait_seconds / 3600, 2),
                    f.replies_after,
                ]
            )  # fmt: skip
        return rows
    raise ValueError(f"no chart named {chart!r}")


CHARTS = ("funnel", "exits", "steps", "over_time")
