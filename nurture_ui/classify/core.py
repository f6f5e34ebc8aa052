"""``classify``: what a lead's reply means for their sequences, decided by readable rules that fail safe.

The order of the checks is the order of what matters most:

1. Only the lead's own words count (``quotes.own_words``): our quoted email carries an unsubscribe link.
2. A request to stop is honoured even when the reply says other things too (``opt_out``). An opt-out that
   is not decisive ("how do I unsubscribe my colleague?", "GDPR") goes to a person: never to "neutral".
3. An auto-reply is an auto-reply whatever its signature says (``out_of_office``), with its return date.
4. A refusal is read before the words that would otherwise look interested (``sentiment``). A refusal
   beside a clear yes ("Interested? No.") is a conflict: a person decides.
5. Text the rules cannot read (another language, another script) goes to a person.
6. A refusal goes to a person too (the sequence stops meanwhile by its "not interested" rule): is it "not
   now" or "never again"? And so does a reply in which no rule recognised anything: "neutral" is what is
   left when the rules found nothing, and nothing found is not evidence that the lead did not ask to stop.

Every verdict keeps the rules' best guess in ``sentiment`` and the phrase that decided in ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from nurture_ui.classify.dates import read_return_date
from nurture_ui.classify.opt_out import find_opt_out
from nurture_ui.classify.out_of_office import find_out_of_office
from nurture_ui.classify.quotes import own_words
from nurture_ui.classify.readable import unreadable
from nurture_ui.classify.sentiment import find_interest, find_refusal
from nurture_ui.classify.text import correct_typos, fold

SENTIMENTS = ("positive", "neutral", "negative", "out_of_office", "unsubscribe")


@dataclass(frozen=True)
class Classification:
    sentiment: str
    # The phrase that decided it (empty for a plain neutral): shown to the rep next to the verdict.
    reason: str = ""
    # Out-of-office only: the day the lead says they are back, when the reply says so.
    return_on: date | None = None
    # True when the return date is our reading of a vague phrase ("back next week").
    return_estimated: bool = False
    # True when the classifier is not sure: a person decides (the triage queue) and the lead's
    # enrollments wait meanwhile. Never left False for a reply that may be asking to stop.
    needs_person: bool = False


def classify(text: str, received_on: date) -> Classification:
    """Classify a reply received on ``received_on`` (the day relative dates are read from).

    ``needs_person`` is True when the rules are unsure — an opt-out that is not decisive, conflicting
    cues, a language the rules cannot read — and then ``sentiment`` is only the best guess.
    """
    words = own_words(text or "")
    if not words:
        return Classification("neutral")
    folded = correct_typos(fold(words))

    opt_out = find_opt_out(folded)
    if opt_out and opt_out.decisive:
        return Classification("unsubscribe", opt_out.phrase)

    if auto_reply := find_out_of_office(folded):
        return_on, estimated = read_return_date(words, received_on)
        return Classification(
            "out_of_office", auto_reply, return_on, estimated, needs_person=opt_out is not None
        )

    refusal, blanked = find_refusal(folded)
    interest, strong = find_interest(blanked)
    if refusal and interest and strong:
        guess = Classification("negative", f"{refusal} / {interest}", needs_person=True)
    elif refusal:
        # "Not interested" is how many people opt out, and a refusal often carries a request to stop in
        # words no rule knows ("…and I'd rather not hear from you"): a person decides between the two.
        guess = Classification("negative", refusal, needs_person=True)
    elif interest:
        guess = Classification("positive", interest)
    elif unreadable(folded):
        guess = Classification("neutral", "not English, German, French or Spanish", needs_person=True)
    else:
        # Nothing recognised: the rules cannot tell "who is this?" from an opt-out worded in a way no rule
        # knows ("Please make sure I don't receive any more of these"). A person reads it.
        guess = Classification("neutral", "no rule recognised this reply", needs_person=True)

    if opt_out:
        # Mentions opting out without asking clearly: a person reads it; the sequence waits meanwhile.
        reason = f"{opt_out.phrase} / {guess.reason}" if guess.reason else opt_out.phrase
        return Classification(guess.sentiment, reason, needs_person=True)
    return guess
