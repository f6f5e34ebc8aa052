"""Reply classification: what a lead's reply means for their sequences, decided by readable rules.

``classify(text, received_on)`` returns one of the lead reply sentiments — ``unsubscribe``,
``out_of_office`` (with the return date when the reply says it), ``negative``, ``positive`` or
``neutral`` — the phrase that decided it, and ``needs_person`` when the rules are unsure and a person must
decide (an opt-out that is not decisive, conflicting cues, a language the rules cannot read). Replies in
English, German, French and Spanish are read; key words are read through typos.

The rules live in ``nurture_ui.classify``: ``core`` (the order of the checks), ``quotes`` (the lead's own
words), ``opt_out``, ``out_of_office``, ``sentiment``, ``dates`` (return dates), ``text`` (folding and typo
correction) and ``readable``. This module is the stable import for the rest of the app.
"""

from nurture_ui.classify.core import SENTIMENTS, Classification, classify
from nurture_ui.classify.dates import read_return_date
from nurture_ui.classify.quotes import own_words

__all__ = ["SENTIMENTS", "Classification", "classify", "own_words", "read_return_date"]
