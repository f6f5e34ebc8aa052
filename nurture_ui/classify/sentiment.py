"""Interest and refusal in a reply, in English, German, French and Spanish (read on folded text).

Refusals are read first and blanked out, so "not interested", "kein Interesse", "pas intéressé" and "no me
interesa" never count as the "interested" inside them. A positive cue is *strong* (an answer: "yes", "let's
talk", "send me pricing", "klingt gut", "avec plaisir", "me interesa") or *topical* (a subject a buyer
mentions: "demo", "pricing", "Termin", "devis", "llamada"). A strong refusal beside a strong yes is a
conflict a person settles; a refusal beside a topic ("not interested in a demo") is a refusal.
"""

from __future__ import annotations

import re


def _rx(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


NEGATIVE = _rx(
    # English
    r"\bnot\s+(?:\w+\s+){0,2}interested\b|\bno\s+longer\s+interested\b|\bnot\s+(?:really\s+)?interesting\s+(?:to|for)\s+us\b",
    r"\bno,?\s+thank(?:s|\s+you)\b|\bbut\s+no\s+thanks\b|\bno\s+thx\b",
    r"\bnot\s+a\s+(?:good\s+|great\s+)?fit\b|\b(?:isn'?t|is\s+not|not)\s+a\s+priority\b",
    r"\b(?:already|recently)\s+(?:signed|chose|chosen|selected|picked|went|gone|use|using|have|work\s+with)\b",
    r"\bwent\s+with\s+(?:a|another|an)\b|\bno\s+budget\b|\b(?:don'?t|do\s+not)\s+have\s+(?:the\s+|any\s+)?budget\b",
    r"\bnot\s+(?:currently\s+)?(?:looking|in\s+the\s+market)\b|\bwe'?ll\s+pass\b|\bpass\s+on\s+this\b",
    r"\bit'?s\s+a\s+no\b|\bdecided\s+not\s+to\b|\bhappy\s+with\s+our\s+current\b",
    r"\b(?:we'?re|we\s+are|i'?m|i\s+am)\s+all\s+set\b",
    r"\b(?:going\s+to|gonna|will|'ll)\s+pass\b(?!\s+(?:this|it|that|your\s+\w+)\s+(?:on|along|to))",
    r"\b(?:didn'?t|did\s+not|doesn'?t|won'?t)\s+work\s+for\s+us\b",
    r"\bwon'?t\s+be\s+(?:buying|purchasing|investing|moving\s+forward|adding)\b",
    r"\b(?:hiring|budget|spending|purchasing)\s+freeze\b",
    r"\b(?:stick|sticking|stay|staying)\s+with\s+(?:what|our|the)\b",
    r"\b(?:doesn'?t|does\s+not)\s+apply\s+to\s+us\b|\bnot\s+relevant\s+(?:to|for)\s+us\b",
    r"\b(?:don'?t|do\s+not)\s+need\s+(?:this|it|that|your|a\s+tool|anything)\b|\bno\s+need\b",
    r"\bnot\s+(?:right\s+)?now\b|\bnot\s+for\s+us\b|\bnot\s+at\s+this\s+time\b",
    # German
    r"\bkein(?:e|en)?\s+(?:\w+\s+)?interesse\b|\bnicht\s+(?:\w+\s+){0,2}interessiert\b|\bkein\s+bedarf\b",
    r"\bnein,?\s+danke\b|\bbrauchen\s+(?:wir|ich)\s+(?:\w+\s+)?nicht\b|\bkein\s+budget\b",
    r"\b(?:haben|nutzen|verwenden|arbeiten)\s+(?:\w+\s+)?(?:bereits|schon)\b|\bbereits\s+(?:einen|eine|ein)\s+\w+",
    r"\bpasst\s+(?:\w+\s+)?nicht\b|\bleider\s+(?:nicht|kein\w*)\b|\bnicht\s+relevant\b|\bnicht\s+in\s+frage\b",
    r"\bkeine\s+prioritat\b|\bkeine\s+prioritaet\b|\bverzichten\b",
    # French
    r"\bpas\s+(?:\w+\s+)?interesse\w*|\bne\s+(?:m'|nous\s+)?interesse\s+pas\b|\bnon,?\s+merci\b",
    r"\bpas\s+(?:de\s+)?besoin\b|\bn'avons\s+pas\s+besoin\b|\bpas\s+pour\s+(?:nous|le\s+moment)\b",
    r"\b(?:avons|utilisons|travaillons)\s+deja\b|\bdeja\s+(?:un|une)\s+(?:fournisseur|prestataire|outil|solution|partenaire)\b",
    r"\bpas\s+de\s+budget\b|\bpas\s+(?:une\s+)?priorite\b|\bne\s+(?:\w+\s+)?pas\s+donner\s+suite\b",
    # Spanish
    r"\bno\s+(?:me|nos)\s+interesa\b|\bno\s+(?:estoy|estamos)\s+interesad\w*|\bno,?\s+gracias\b",
    r"\bno\s+(?:lo\s+)?necesit\w*|\bya\s+(?:tenemos|contamos|trabajamos|usamos|utilizamos)\b",
    r"\bno\s+(?:tenemos|hay)\s+presupuesto\b|\bno\s+es\s+(?:para\s+nosotros|(?:una\s+)?prioridad|el\s+momento)\b",
)
# A sentence that is only a no: "No.", "Nope!", "Nein.", "Non."
NO_ALONE = re.compile(r"(?:^|[.!?\n]\s*)(?:no|nope|nah|nein|non|no\s+way)\s*(?:[.!]+|$)")
STRONG_POSITIVE = _rx(
    # Short answers at the start of the reply: "Yes!", "Sure, go ahead.", "Oui, avec plaisir", "Sí, claro".
    r"^\W*(?:yes|yep|yeah|yup|sure|absolutely|definitely|of\s+course|certainly|ja|gerne?|oui|volontiers|claro|"
    r"por\s+supuesto|con\s+gusto|si(?=\s*[,.!]|\s*$|\s+(?:claro|me|nos|por))|einverstanden|bien\s+sur)\b",
    r"\b(?:go\s+ahead|let'?s\s+do\s+(?:it|this)|count\s+me\s+in|i'?m\s+in|let'?s\s+go|los\s+geht'?s|allons-y|"
    r"adelante|vamos\s+a\s+ello)\b",
    # English
    r"\binterested\b|\bwould\s+be\s+keen\b|\bwe'?d\s+love\b|\bi'?d\s+love\b|\bgot\s+my\s+attention\b",
    r"\blet'?s\s+(?:talk|chat|connect|meet|schedule|set\s+up|book|find\s+a\s+time|discuss|do\s+it)\b",
    r"\b(?:set\s+up|schedule|book|arrange)\s+(?:a\s+|something\s+|some\s+time\s+)?(?:call|meeting|demo|chat|time|in)\b",
    r"\b(?:happy|keen|glad|love|like)\s+to\s+(?:chat|talk|meet|connect|learn|see|hear|jump|get)\b",
    r"\b(?:send|share)\s+(?:me\s+|us\s+|over\s+)*(?:more\s+|some\s+|the\s+|a\s+)?(?:info|information|details|pricing|"
    r"prices|quote|proposal|case\s+stud)",
    r"\bcalendar\s+link\b|\b(?:when|are)\s+(?:are\s+)?you\s+(?:free|available)\b",
    r"\bhow\s+does\s+\w+day\b|\bdoes\s+\w+day\s+(?:at\s+)?\S*\s*work\b|\bcan\s+you\s+do\s+(?:next\s+)?\w+day\b",
    r"\b(?:jump|hop|get)\s+on\s+a\s+call\b|\bworth\s+a\s+(?:conversation|chat|call)\b",
    r"\b(?:great|good)\s+(?:fit|timing)\b|\btimely\b|\btell\s+me\s+more\b|\blearn\s+more\b|\bhearing\s+more\b",
    r"\bany\s+slots\b|\bfree\s+(?:most|on|next)\b|\bsounds\s+(?:good|great|interesting|perfect)\b",
    r"\b(?:a\s+)?(?:couple\s+of\s+|few\s+)?times?\s+that\s+works?\b|\bwalk\s+(?:me|us|my\s+team|the\s+team|them)\s+through\b",
    r"\bwants?\s+to\s+(?:meet|talk|chat|see\s+a\s+demo|learn\s+more)\b|\bare\s+you\s+(?:around|free|available)\b",
    r"\bopen\s+to\s+(?:a|an)\b|\blooking\s+forward\b|\bnext\s+steps?\b",
    r"\b(?:shopping|looking)\s+for\s+(?:exactly\s+)?(?:this|something\s+like\s+this)\b",
    # German
    r"\binteressiert\b|\binteresse\b|\bklingt\s+(?:\w+\s+)?(?:gut|spannend|interessant|super|prima)\b",
    r"\bh(?:o|oe)rt\s+sich\s+(?:\w+\s+)?(?:gut|spannend|interessant)\s+an\b",
    r"\blassen\s+sie\s+uns\s+(?:\w+\s+){0,2}(?:sprechen|telefonieren|reden|treffen)\b",
    r"\b(?:schicken|senden|schickt)\s+sie\s+(?:mir|uns)\s+(?:\w+\s+){0,2}(?:infos?|informationen|unterlagen|angebot|"
    r"preise|preisliste)\b",
    r"\bwann\s+(?:haben\s+sie|hatten\s+sie|haetten\s+sie|passt|ware|waere)\b|\brufen\s+sie\s+mich\s+(?:\w+\s+)?an\b",
    # French
    r"\binteresse\w*\b|\bm'interesse\b|\bavec\s+plaisir\b|\bpourquoi\s+pas\b|\bca\s+(?:me|nous)\s+va\b|\bca\s+marche\b",
    r"\b(?:envoyez|transmettez)[\s-](?:moi|nous)\s+(?:\w+\s+){0,3}(?:informations|documentation|devis|tarifs|brochure|"
    r"offre|details)\b",
    r"\bje\s+suis\s+disponible\b|\bparlons-en\b|\bon\s+peut\s+(?:en\s+)?(?:parler|discuter|echanger)\b",
    # Spanish
    r"\b(?:me|nos)\s+interesa\b|\binteresad[oa]s?\b|\bencantad[oa]s?\b|\bhablemos\b|\bpodemos\s+hablar\b",
    r"\bagend(?:emos|ar)\b|\bme\s+parece\s+(?:bien|genial|perfecto|interesante)\b|\bestoy\s+disponible\b",
    r"\b(?:envienme|mandenme|me\s+pueden\s+enviar|pueden\s+enviarme|me\s+envian)\s+(?:\w+\s+){0,2}(?:informacion|"
    r"precios|detalles|cotizacion|propuesta)\b",
    r"\bcuando\s+(?:podemos|puede|pueden|tienen|tiene)\b",
)
TOPICAL_POSITIVE = _rx(
    r"\bpricing\b|\bquote\b|\b(?:a|the|quick)\s+(?:demo|walkthrough|trial)\b|\bhow\s+much\b",
    r"\bwhat\s+(?:would|does|will)\s+(?:it|this|that)\s+cost\b",
    r"\b(?:termin|telefonat|demo|angebot|preise)\b",
    r"\b(?:rendez-vous|devis|tarifs|demonstration)\b",
    r"\b(?:llamada|reunion|precios|cotizacion)\b",
)


def find_refusal(folded: str) -> tuple[str | None, str]:
    """The phrase that refuses, if any, and ``folded`` with every refusal blanked out."""
    phrases = [m.group(0) for m in NEGATIVE.finditer(folded)]
    # Blanked with "_" rather than spaces, so the words either side of a refusal never join into a phrase.
    blanked = NEGATIVE.sub(lambda m: "_" * len(m.group(0)), folded)
    if not phrases and (alone := NO_ALONE.search(folded)):
        phrases.append(alone.group(0).strip(" .!?\n"))
        blanked = NO_ALONE.sub(" _ ", blanked)
    return (phrases[0] if phrases else None), blanked


def find_interest(blanked: str) -> tuple[str | None, bool]:
    """The phrase that shows interest in a reply whose refusals are blanked out, and whether it is strong."""
    if match := STRONG_POSITIVE.search(blanked):
        return match.group(0).strip(" ,.!"), True
    if match := TOPICAL_POSITIVE.search(blanked):
        return match.group(0), False
    return None, False
