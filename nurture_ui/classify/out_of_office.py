"""Out-of-office auto-replies in English, German, French and Spanish (read on folded text)."""

from __future__ import annotations

import re

OUT_OF_OFFICE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # English
            r"\bout\s+of\s+(?:the\s+)?office\b",
            r"\booo\b",
            r"\bautomatic\s+reply\b|\bauto-?\s?reply\b|\bautoreply\b|\bauto-?response\b|\bautomated\s+response\b",
            r"\bon\s+(?:annual|parental|maternity|paternity|sick|medical|study|bereavement)\s+leave\b",
            r"\bon\s+(?:vacation|holiday|holidays|leave|sabbatical|pto)\b",
            r"\baway\s+from\s+(?:my\s+desk|the\s+office)\b",
            r"\b(?:limited|sporadic|intermittent|no)\s+(?:access\s+to\s+)?(?:my\s+)?emails?\b",
            r"\baway\s+on\s+(?:business|travel|leave|holiday|vacation)\b",
            r"\b(?:currently|presently)\s+(?:away|travel(?:l)?ing|out)\b",
            r"\bback\s+in\s+the\s+office\b",
            r"\bwill\s+(?:respond|reply)\s+(?:to\s+your\s+(?:email|message)\s+)?(?:when|on\s+my\s+return|as\s+soon\s+as)",
            # German
            r"\babwesenheits(?:notiz|nachricht|meldung|assistent)\w*",
            r"\bautomatische\s+antwort\b|\bautomatische\s+(?:abwesenheits)?benachrichtigung\b",
            r"\bnicht\s+im\s+(?:buro|buero)\b|\baus?ser\s+haus\b|\bausserhalb\s+des\s+(?:buros|bueros)\b",
            r"\b(?:im|in)\s+(?:urlaub|elternzeit|mutterschutz|krankenstand)\b|\bbin\s+(?:\w+\s+){0,4}abwesend\b",
            r"\babwesend\b|\b(?:auf|in)\s+(?:geschaftsreise|geschaeftsreise|dienstreise)\b",
            r"\b(?:eingeschrankt|eingeschraenkt|nicht)\s+erreichbar\b",
            # French
            r"\babsente?s?\s+(?:du|de\s+mon|de\s+l')\s*(?:bureau|agence)\b|\bhors\s+du\s+bureau\b",
            r"\breponse\s+automatique\b|\bmessage\s+(?:d'absence|automatique)\b",
            r"\ben\s+(?:conges?|vacances|deplacement|arret\s+maladie|conge\s+(?:maternite|parental|maladie))\b",
            r"\bje\s+suis\s+(?:actuellement\s+)?absente?\b|\bactuellement\s+absente?\b",
            r"\bacces\s+(?:limite|restreint)\s+(?:a\s+)?(?:mes\s+)?(?:e?mails|messagerie|courriels)\b",
            # Spanish
            r"\bfuera\s+de\s+(?:la\s+)?oficina\b|\brespuesta\s+automatica\b|\bmensaje\s+automatico\b",
            r"\b(?:estoy|estare|me\s+encuentro)\s+(?:\w+\s+){0,2}(?:de\s+vacaciones|fuera|ausente|de\s+viaje|"
            r"de\s+baja\s+(?:medica|por|de))",
            r"\bde\s+vacaciones\b|\bausente\s+(?:hasta|del|de\s+la\s+oficina)\b",
            r"\bacceso\s+limitado\s+(?:a\s+)?(?:mi\s+)?(?:correo|email)\b",
        )
    )
)


def find_out_of_office(folded: str) -> str | None:
    """The phrase that shows ``folded`` is an out-of-office auto-reply, or None."""
    match = OUT_OF_OFFICE.search(folded)
    return match.group(0) if match else None
