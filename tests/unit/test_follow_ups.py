"""The pure core of same-thread follow-ups and activity conditions (nurture_ui.engine.follow_ups)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from nurture_ui.engine.follow_ups import (
    EARLIER_NOT_SENT,
    OPEN_TASK,
    REPLIED,
    SentEmail,
    activity_condition_failure,
    earlier_sent_email,
    follow_up_thread,
    references_after,
    reply_subject,
)


def sent(step_order, clock, *, subject="Intro", references=None, hours_ago=48):
    return SentEmail(
        step_order=step_order,
        subject=subject,
        message_id=f"<step{step_order}@nurture.test>",
        thread_references=references,
        sent_at=clock.now() - timedelta(hours=hours_ago),
    )


def step(**flags):
    values = dict(only_if_not_replied=False, only_if_no_open_task=False, same_thread=False)
    return SimpleNamespace(**{**values, **flags})


def reply(clock, *, hours_ago, sentiment="neutral"):
    return SimpleNamespace(received_at=clock.now() - timedelta(hours=hours_ago), sentiment=sentiment)


def test_reply_subject_adds_re_once():
    assert reply_subject("Your Q3 plans") == "Re: Your Q3 plans"
    assert reply_subject("Re: Your Q3 plans") == "Re: Your Q3 plans"
    assert reply_subject("RE: shouting") == "RE: shouting"
    assert reply_subject("re:quiet") == "re:quiet"
    assert reply_subject("Regarding the pilot") == "Re: Regarding the pilot"


def test_reply_subject_stays_within_the_subject_column():
    assert len(reply_subject("x" * 998)) == 998


def test_the_earlier_email_is_the_nearest_earlier_one_that_was_sent(clock):
    emails = [sent(1, clock), sent(3, clock), sent(5, clock)]
    assert earlier_sent_email(4, emails).step_order == 3
    assert earlier_sent_email(6, emails).step_order == 5
    assert earlier_sent_email(1, emails) is None
    assert earlier_sent_email(2, []) is None


def test_references_are_the_parents_chain_then_its_message_id(clock):
    first = sent(1, clock)
    assert references_after(first) == "<step1@nurture.test>"
    second = sent(2, clock, references="<step1@nurture.test>")
    assert references_after(second) == "<step1@nurture.test> <step2@nurture.test>"


def test_a_follow_up_replies_to_the_earlier_email_as_it_was_sent(clock):
    earlier = sent(2, clock, subject="Edited by the reviewer", references="<step1@nurture.test>")
    thread = follow_up_thread("The step's own subject", earlier)
    assert thread.subject == "Re: Edited by the reviewer"
    assert thread.in_reply_to == "<step2@nurture.test>"
    assert thread.references == "<step1@nurture.test> <step2@nurture.test>"
    assert thread.unthreaded_reason is None


def test_with_no_earlier_email_sent_the_follow_up_keeps_its_own_subject_and_says_why():
    thread = follow_up_thread("The step's own subject", None)
    assert (thread.subject, thread.in_reply_to, thread.references) == ("The step's own subject", None, None)
    assert thread.unthreaded_reason == EARLIER_NOT_SENT


def test_a_reply_after_the_previous_email_skips_a_step_that_runs_only_without_one(clock):
    earlier = sent(1, clock, hours_ago=48)
    only_unreplied = step(only_if_not_replied=True)
    replied = [reply(clock, hours_ago=2)]
    assert (
        activity_condition_failure(
            only_unreplied, earlier=earlier, replies=replied, has_open_task=False, now=clock.now()
        )
        == REPLIED
    )


def test_replies_before_the_previous_email_or_out_of_office_notices_do_not_count(clock):
    earlier = sent(1, clock, hours_ago=48)
    only_unreplied = step(only_if_not_replied=True)
    older = [reply(clock, hours_ago=72), reply(clock, hours_ago=1, sentiment="out_of_office")]
    assert (
        activity_condition_failure(
            only_unreplied, earlier=earlier, replies=older, has_open_task=False, now=clock.now()
        )
        is None
    )


def test_a_reply_arriving_later_than_now_is_not_seen_yet(clock):
    earlier = sent(1, clock, hours_ago=48)
    clock.advance(hours=-10)  # the step runs before the reply arrived
    future = [reply(clock, hours_ago=-5)]
    assert (
        activity_condition_failure(
            step(only_if_not_replied=True),
            earlier=earlier,
            replies=future,
            has_open_task=False,
            now=clock.now(),
        )
        is None
    )


def test_with_no_previous_email_sent_there_is_nothing_to_have_replied_to(clock):
    assert (
        activity_condition_failure(
            step(only_if_not_replied=True),
            earlier=None,
            replies=[reply(clock, hours_ago=1)],
            has_open_task=False,
            now=clock.now(),
        )
        is None
    )


def test_an_open_task_skips_a_step_that_runs_only_without_one(clock):
    only_no_task = step(only_if_no_open_task=True)
    assert (
        activity_condition_failure(
            only_no_task, earlier=None, replies=[], has_open_task=True, now=clock.now()
        )
        == OPEN_TASK
    )
    assert (
        activity_condition_failure(
            only_no_task, earlier=None, replies=[], has_open_task=False, now=clock.now()
        )
        is None
    )


def test_a_step_without_activity_conditions_always_runs(clock):
    assert (
        activity_condition_failure(
            step(),
            earlier=sent(1, clock),
            replies=[reply(clock, hours_ago=1)],
            has_open_task=True,
            now=clock.now(),
        )
        is None
    )
