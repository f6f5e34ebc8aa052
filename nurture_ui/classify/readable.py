"""Whether the rules can read a reply at all: written in English, German, French or Spanish.

A reply in another language or script ("Non sono interessato", "Не пишите мне") would fall through every
rule to "neutral" and keep the sequence going: it goes to a person instead. The test is plain: enough of its
words must be common words of the four languages.
"""

from __future__ import annotations

import re


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


COMMON_WORDS = _word_set(
    """
    a about after again all also am an and any are as at back be been but by can could did do does don't
    email for from get got had has have hello hey hi how i i'm if in info is it it's just know let let's
    like me more my need no not now of ok okay on or our out please re send so sorry still thank thanks
    that the their them then there this thx to too us want was we we're were what when where which who
    why will with would yes you your
    aber alle als am an auch auf aus bei bin bis bitte da danke das dass dem den der des die dies doch
    du ein eine einen er es fur gerne gut guten habe haben hallo ich ihr ihre ihnen im in ist ja jetzt
    kann kein keine mehr mich mir mit nach nein nicht noch nur oder schon sehr sie sind so uber und uns
    vielen von vor war was weiter wer wie wir wird zu zum zur welche woher
    wo wann warum hat
    au aux avec bonjour c'est ce ces cette dans de des du elle en est et etre il je j'ai la le les leur
    ma mais me merci mes moi mon ne nous on ou par pas plus pour qu'il que qui sa sans se ses son sont
    sur svp tres tu un une vos votre vous oui quoi quel quelle etes suis avez
    avons bien fait faire peut
    al algo como con cual de del el ella en es esta este esto estoy ha hay hola la las le lo los mas me
    mi muchas muy nos nosotros o para pero por que quien se si sin su sus tambien te tengo tiene un una
    usted ustedes y ya gracias saludos buenos dias donde estan son eso esa ese
    cuando puede pueden hacer favor tienen tenemos soy estamos mucho bien
    """
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_LATIN = re.compile(r"[a-z]")


def unreadable(folded: str) -> bool:
    """True when ``folded`` is not (recognisably) English, German, French or Spanish."""
    words = _WORD.findall(folded)
    if not words:
        return False
    letters = "".join(words)
    if sum(bool(_LATIN.match(ch)) for ch in letters) < 0.7 * len(letters):
        return True
    common = sum(word in COMMON_WORDS for word in words)
    if len(words) <= 3:
        return common == 0 and not any(word in _SHORT_REPLIES for word in words)
    return common / len(words) < 0.2


# Short replies without a common word that are still plainly readable ("Thanks Sam", "Noted", "Received").
_SHORT_REPLIES = _word_set(
    "thanks noted received understood interesting great perfect cool nice fine sounds stop unsubscribe remove "
    "baja abmelden danke merci gracias parfait perfecto super prima klar bien vale noted forwarded"
)
