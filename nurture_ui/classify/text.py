"""Text folding for the rules: one spelling per word, so a rule is written once and still matches.

``fold`` lowercases, strips accents ("désabonner" → "desabonner", "Büro" → "buro", "ß" → "ss"). ``correct_typos`` then replaces a misspelt
*key word* of the rules by its right spelling when it is one letter off (two for long words): "unsubcribe",
"unsusbscribe", "remvoe", "emaling". Only the key words are corrected, never ordinary words, and a list of
real words that sit one letter from a key word ("remote", "contract", "subscribe") is left alone.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'", "\u00df": "ss"})
_E_MAIL = re.compile(r"\be-(?=mail)")


def fold(text: str) -> str:
    """Lowercase, accents stripped ("Büro" → "buro"), "e-mail" → "email", curly apostrophes straightened.

    German typed without umlauts ("Buero") is not folded here: the rules spell those few words both ways.
    """
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _E_MAIL.sub("e", text)


# The key words of the opt-out and out-of-office rules, as the rules spell them (folded).
KEY_WORDS = (
    "unsubscribe", "unsubscribed", "unsubscribing", "unsubscription",
    "remove", "removed", "removing", "delete", "deleted",
    "email", "emails", "emailing", "mailing", "messages", "message",
    "contact", "contacting", "contacted", "sending", "spamming",
    "stop", "please",
    "abmelden", "abmeldung", "abbestellen", "austragen", "ausgetragen", "austragung", "entfernen",
    "kontaktieren", "loschen", "verteiler", "nachrichten", "werbung",
    "desabonner", "desabonnez", "desabonnement", "desinscrire", "desinscrivez", "desinscription",
    "recevoir", "supprimer", "supprimez", "retirer", "retirez", "contactez",
    "desuscribir", "desuscribirme", "suscripcion", "recibir", "escriban", "escribirme",
    "contactarme", "enviarme", "eliminen", "eliminar", "correos",
    # Right spellings in the other languages, so that they are never "corrected" into a neighbour.
    "contacten", "contacter", "contactar", "contacte", "contactes", "contacta", "envoyer", "escribir",
    "mensajes", "mails", "removal", "deleting", "emailed", "kontaktiert", "nachricht",
)  # fmt: skip
# Real words one letter from a key word: never "corrected" into one.
REAL_WORDS = frozenset(
    (
        "remote", "removes", "contract", "contracts", "subscribe", "subscribed", "subscription",
        "stops", "store", "lease", "emailed", "mailed", "sendung",
        "contacts", "massage", "messager", "anmelden", "anmeldung", "eintragen", "entfernt",
        "recibi", "recibo", "escriba", "escribo", "correo", "delegate", "retired", "resubscribe",
        "resubscribed", "ending", "lending", "spending", "pending", "tending", "bending", "mending", "vending",
        "sensing", "failing", "sailing", "nailing", "railing", "wailing", "mailings",
    )
)  # fmt: skip
_WORD = re.compile(r"[a-z][a-z\-']*[a-z]|[a-z]")


def correct_typos(folded: str) -> str:
    """``folded`` with each misspelt key word replaced by its right spelling (see the module docstring)."""
    return _WORD.sub(lambda m: _closest_key_word(m.group(0)), folded)


def _closest_key_word(word: str) -> str:
    if len(word) < 5 or word in REAL_WORDS or word in _KEY_SET:
        return word
    best, best_distance = word, 3
    for key in KEY_WORDS:
        # One letter off; two for the long key words ("unsusbscribe"), whose neighbours are not words.
        allowed = 2 if len(key) >= 11 else 1
        if abs(len(key) - len(word)) <= allowed:
            distance = edit_distance(word, key, allowed)
            if distance <= allowed and distance < best_distance:
                best, best_distance = key, distance
    return best


_KEY_SET = frozenset(KEY_WORDS)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count as one edit), stopping once above ``limit``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
