"""Opt-out requests in English, German, French and Spanish, read so that none slips through.

The reply is folded (lowercase, no accents) and its misspelt key words corrected first (``text``), so
"Désabonner", "UNSUBCRIBE" and "remvoe me" all meet the rules below written once.

A rule that names the writer ("remove me", "stop emailing me", "keine E-Mails mehr", "darme de baja")
decides on its own. A bare keyword ("unsubscribe", "abmelden", "désinscription") decides too, unless the
same sentence puts it in doubt — someone else ("unsubscribe my colleague"), a condition ("if I want to
unsubscribe…"), a negation ("don't unsubscribe me") or a mistake ("unsubscribed by accident"): then a person
decides. So does a reply that only *mentions* opting out (GDPR, spam, "mailing list", "remove … my…") without
a rule deciding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _rx(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Rules that name the writer (or their address, data, inbox): a request to stop, whatever else is said.
ABOUT_ME = _rx(
    # English
    r"\b(?:remove|delete|erase|take|drop|strike|scratch)\s+(?:me|us|myself|my\s+(?:\w+\s+)?(?:email|address|name|"
    r"details|data|info\w*|contact\w*|account)|our\s+(?:\w+\s+)?(?:email|address|details|data))\b",
    r"\b(?:be|been|get|getting|being)\s+(?:removed|taken\s+off|unsubscribed|deleted)\b",
    r"\b(?:take|get|keep|leave)\s+(?:me|us|my\s+\w+(?:\s+\w+)?)\s+(?:out\s+)?off\b",
    r"\boff\s+(?:of\s+)?(?:this|your|the|these|that|all|any)\s+(?:\w+\s+)?(?:lists?|emails?|mailings?)\b",
    r"\bstop(?:ped|ping)?\s+(?:\w+\s+){0,2}(?:emailing|sending|contacting|messaging|writing|spamming|mailing|calling|emails?|"
    r"messages|reaching\s+out|following\s+up)\b",
    r"\b(?:do\s+not|don'?t|dont|never|pls\s+don'?t)\s+(?:\w+\s+)?(?:contact|email|message|write|mail|reach\s+out|"
    r"send|call|spam)\w*\s+(?:to\s+|anything\s+to\s+)?(?:me|us|this\s+address|again)\b",
    r"\bno\s+(?:more|further)\s+(?:\w+\s+)?(?:emails?|messages|mails?|contact|communications?|outreach|follow-?ups)\b",
    r"\b(?:don'?t|do\s+not|no\s+longer)\s+(?:want|wish|need|like)\s+(?:to\s+)?(?:receive|get|be\s+(?:contacted|emailed))\b",
    r"\b(?:don'?t|do\s+not)\s+want\s+(?:any\s+more|anymore|more|any|these|your)\s+(?:\w+\s+)?(?:emails?|messages)\b",
    r"\bleave\s+me\s+alone\b|\bcease\s+(?:\w+\s+)?(?:communications?|contact\w*|emails?|messages|mailings?)\b",
    r"\b(?:this\s+is|that'?s|marked?\s+(?:as|this\s+as)|report(?:ed|ing)?\s+(?:this\s+|you\s+)?(?:as|for))\s+spam\b",
    r"\bright\s+to\s+(?:be\s+forgotten|erasure)\b|\berasure\s+request\b",
    r"\b(?:my|our)\s+(?:\w+\s+)?(?:details|data|email|address|information|info|contact\s+details)\s+(?:\w+\s+)?"
    r"(?:deleted|removed|erased)\b",
    # German
    r"\bmelden\s+sie\s+mich\s+(?:\w+\s+){0,3}ab\b|\bmeldet\s+mich\s+(?:\w+\s+){0,3}ab\b",
    r"\btragen\s+sie\s+mich\s+(?:\w+\s+){0,4}aus\b|\btragt\s+mich\s+(?:\w+\s+){0,4}aus\b",
    r"\bkeine\s+(?:weiteren\s+|emails?\s+)?(?:emails?|mails|nachrichten|werbung|werbemails|newsletter|anrufe|"
    r"zusendungen|kontaktaufnahmen?)\b",
    r"\b(?:nicht\s+mehr|nie\s+wieder|nicht\s+weiter)\s+(?:\w+\s+){0,2}(?:kontaktier\w*|anschreiben|anzuschreiben|"
    r"angeschrieben|schreiben|mailen|angemailt|anrufen|angerufen|belastig\w*|belaestig\w*|zu\s+schreiben)",
    r"\b(?:kontaktieren|schreiben|mailen|anschreiben|belastigen|belaestigen)\s+sie\s+mich\s+(?:bitte\s+)?"
    r"(?:nicht\s+mehr|nie\s+wieder|nicht)\b",
    r"\b(?:entfernen|loschen|loeschen|streichen|nehmen)\s+sie\s+(?:mich|meine\s+(?:\w+\s+)?(?:daten|adresse|"
    r"emails?\w*|kontakt\w*))",
    r"\bmich\s+(?:\w+\s+){0,5}(?:entfernen|streichen|loschen|loeschen|rausnehmen|herausnehmen)\b",
    r"\bmeine\s+(?:\w+\s+)?(?:daten|adresse|email-?adresse|kontaktdaten)\s+(?:\w+\s+){0,4}(?:loschen|loeschen|entfernen)",
    r"\b(?:aus|von)\s+(?:ihrem|ihrer|dem|der|eurem|eurer|diesem|dieser)\s+(?:\w+\s+)?(?:verteiler|liste|mailingliste|"
    r"newsletter)\b",
    r"\bwiderspreche\b|\bh(?:o|oe)ren\s+sie\s+auf\b|\bhort\s+auf\b|\blassen\s+sie\s+mich\s+in\s+ruhe\b",
    # French
    r"\bne\s+(?:\w+\s+){0,2}plus\s+(?:\w+\s+){0,2}(?:recevoir|m'\w+|me\s+(?:contacter|relancer|solliciter|ecrire)|"
    r"etre\s+(?:contacte|sollicite|relance)\w*)",
    r"\bne\s+(?:m'|me\s+|nous\s+)?(?:contactez|ecrivez|envoyez|sollicitez|appelez|relancez)\s+plus\b",
    r"\b(?:arretez|cessez|arreter|cesser)\s+(?:de\s+|d')?(?:m'|me\s+|nous\s+)?(?:ecrire|envoyer|contacter|spammer|"
    r"solliciter|relancer)",
    r"\b(?:arretez|cessez)\s+(?:vos|ces|les|de\s+m'envoyer\s+des)\s+(?:emails?|mails|messages|relances|courriels)\b",
    r"\b(?:retirez|supprimez|enlevez|effacez|otez|rayez)[\s-]*(?:moi|nous|mon\s+(?:\w+\s+)?(?:adresse|email|nom|"
    r"contact)|mes\s+(?:\w+\s+)?(?:donnees|coordonnees|informations))",
    r"\bme\s+(?:retirer|supprimer|desinscrire|enlever|rayer)\b",
    r"\b(?:retirer|supprimer|effacer|enlever)\s+(?:mes\s+(?:\w+\s+)?(?:donnees|coordonnees|informations)|mon\s+(?:\w+\s+)?"
    r"(?:adresse|email|nom|contact))",
    r"\bplus\s+de\s+(?:emails?|mails|messages|courriels|sollicitations?|relances)\b",
    r"\blaissez[\s-]moi\s+tranquille\b",
    # Spanish
    r"\b(?:dar(?:me|nos|se)?|den(?:me|nos)?|dame|denos|doy|deme)\s+de\s+baja\b",
    r"\bde\s+baja\b(?!\s+(?:medica|por|laboral|temporal|de\s+maternidad|de\s+paternidad|hasta))",
    r"\bdejar\s+de\s+recibir\b|\bno\s+(?:quiero|deseo|queremos|deseamos)\s+(?:seguir\s+)?recibir\b",
    r"\bno\s+(?:me|nos)\s+(?:vuelvan\s+a\s+|vuelva\s+a\s+)?(?:escriban|escriba|escribas|contacten|contacte|envien|"
    r"manden|llamen|molesten|escribir|contactar)\b",
    r"\b(?:dejen|deje|dejad|deja)\s+de\s+(?:escrib|envi|mand|contact|llam|molest)\w*",
    r"\b(?:eliminen|eliminar|borren|borrar|quiten|quitar|saquen|sacar|supriman|suprimir)(?:me|nos)?\s+"
    r"(?:de\s+(?:su|la|sus|esta|vuestra)|mis?\s+(?:\w+\s+)?(?:datos|correo|direccion|email))",
    r"\b(?:eliminar|borrar|quitar|sacar|excluir)(?:me|nos)\b|\b(?:eliminenme|borrenme|quitenme|saquenme|excluyanme)\b",
    r"\bcancelar\s+(?:la\s+|mi\s+)?suscripcion\b|\bno\s+mas\s+(?:correos|emails?|mensajes|mails)\b",
    r"\bdejenme\s+en\s+paz\b",
)
# Bare opt-out keywords: decisive unless their sentence puts them in doubt (see DOUBT).
KEYWORDS = _rx(
    r"\bunsubscrib\w*|\bunsub\b",
    r"\bopt(?:ing|ed)?[\s-]*(?:me\s+|us\s+)?out\b",
    r"\babmeld\w*|\baustrag\w*|\bausgetragen\b|\babbestell\w*",
    r"\bdesabonn\w*|\bdesinscri\w*|\bdesincri\w*",
    r"\bdesuscrib\w*|\bdesuscripcion\b|\bdesinscribir\w*",
)
# A sentence that is nothing but the request: "STOP", "Remove.", "Baja", "Please stop!"
ALONE = re.compile(
    r"^\s*(?:please\s+|pls\s+|bitte\s+|svp\s+)?(?:stop|remove|unsubscribe|baja|abmelden|desabonner|halt|stopp|"
    r"remove\s+me|stop\s+it|enough)(?:\s+(?:please|pls|bitte|svp|now|immediately|already|it))?\s*[.!]*\s*$"
)
# What makes a bare keyword uncertain within its sentence.
DOUBT = _rx(
    r"\b(?:my|our|his|her|their)\s+(?:colleague|coworker|co-worker|assistant|boss|manager|team|partner|wife|"
    r"husband|friend|ex-?\w*|predecessor|intern|employees?|staff|client|customer)s?\b",
    r"\b(?:him|her|them|someone|somebody|others|everyone)\b",
    r"\b(?:mein\w*|unser\w*)\s+(?:kolleg\w*|chef\w*|mitarbeiter\w*|assistent\w*|team)\b",
    r"\b(?:mon|ma|mes|notre|nos)\s+(?:collegue|collegues|assistant\w*|patron|equipe|collaborat\w*)\b",
    r"\b(?:mi|mis|nuestro|nuestra)\s+(?:companer\w*|colega\w*|jefe|asistente|equipo)\b",
    r"\b(?:if|whether|wenn|falls|ob|lorsque|cuando)\b",
    r"\b(?:don'?t|do\s+not|never|nicht|pas|no)\s+(?:\w+\s+)?(?:unsubscrib|opt|abmeld|austrag|desabonn|desinscri|"
    r"desuscrib|dar\w*\s+de\s+baja)",
    r"\b(?:mistake|accident\w*|accidental\w*|versehentlich|aus\s+versehen|par\s+erreur|por\s+error|re-?subscribe\w*|"
    r"resubscrib\w*)\b",
)
# Words that mention opting out without deciding: a person reads the reply. A wide net on purpose (any
# "stop", "cease", "lose my…"): a person reading a harmless reply costs minutes, a missed opt-out costs trust.
MENTION = _rx(
    r"\b(?:stop+|cease|halt|lose\s+my|communications|(?:e?mails?|correos|nachrichten|messages)\s+(?:anymore|mehr|"
    r"plus|mas))\b",
    r"\b(?:spam\w*|gdpr|ccpa|dsgvo|rgpd|lopd|datenschutz|privacy|data\s+protection|mailing\s+list|verteiler|"
    r"liste\s+de\s+diffusion|lista\s+de\s+correo|never\s+signed\s+up|did\s*n[o']?t\s+sign\s+up)\b",
    r"\bbaja\b(?!\s+(?:medica|por|laboral|temporal|de\s+maternidad|de\s+paternidad|hasta))",
    r"\b(?:stop|remove|delete|take\s+off)\b(?:\W+\w+){0,4}?\W+(?:me|us|my|our|emails?|messages?|list|contact\w*|data)\b",
)

_SENTENCES = re.compile(r"[^.!?\n;]+[.!?]*")


@dataclass(frozen=True)
class OptOut:
    """An opt-out read in a reply: the phrase, and whether it decides alone or a person must read it."""

    phrase: str
    decisive: bool


def find_opt_out(folded: str) -> OptOut | None:
    """The opt-out request in a reply (folded, typo-corrected own words), or None when it mentions none."""
    doubtful: OptOut | None = None
    for sentence in (m.group(0).strip() for m in _SENTENCES.finditer(folded)):
        if match := ALONE.match(sentence):
            return OptOut(match.group(0).strip(" .!"), True)
        if match := ABOUT_ME.search(sentence):
            if _negated(sentence, match):
                doubtful = doubtful or OptOut(match.group(0), False)
                continue
            return OptOut(match.group(0), True)
        if match := KEYWORDS.search(sentence):
            if DOUBT.search(sentence):
                doubtful = doubtful or OptOut(match.group(0), False)
                continue
            return OptOut(match.group(0), True)
    if doubtful:
        return doubtful
    if match := MENTION.search(folded):
        return OptOut(match.group(0), False)
    return None


def _negated(sentence: str, match: re.Match) -> bool:
    """ "please don't remove me", "ne me retirez pas": the writer asks *not* to be removed."""
    before = sentence[max(0, match.start() - 20) : match.start()]
    after = sentence[match.end() : match.end() + 12]
    if re.search(r"\b(?:don'?t|do\s+not|please\s+don'?t|nicht)\s*$", before) and not match.group(
        0
    ).startswith(("do", "don", "never", "no ")):
        return True
    return bool(re.match(r"\s*(?:pas|nicht)\b", after)) and "plus" not in match.group(0)
