"""Return dates in out-of-office replies, in English, German, French and Spanish.

Reads the text folded (lowercase, no accents: see ``text.fold``), so "März", "février" and "miércoles"
are written here as "marz", "fevrier", "miercoles".
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from nurture_ui.classify.text import fold

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "januar", "janner", "janvier", "janv", "enero"),
            ("february", "feb", "februar", "fevrier", "fevr", "fev", "febrero"),
            ("march", "mar", "marz", "maerz", "mars", "marzo"),
            ("april", "apr", "avril", "avr", "abril", "abr"),
            ("may", "mai", "mayo"),
            ("june", "jun", "juni", "juin", "junio"),
            ("july", "jul", "juli", "juillet", "juil", "julio"),
            ("august", "aug", "aout", "agosto"),
            ("september", "sept", "sep", "septembre", "septiembre", "setiembre"),
            ("october", "oct", "oktober", "okt", "octobre", "octubre"),
            ("november", "nov", "novembre", "noviembre"),
            ("december", "dec", "dezember", "dez", "decembre", "diciembre", "dic"),
        ),
        start=1,
    )
    for name in names
}
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon", "montag", "lundi", "lunes"),
            ("tuesday", "tue", "tues", "dienstag", "mardi", "martes"),
            ("wednesday", "wed", "mittwoch", "mercredi", "miercoles"),
            ("thursday", "thu", "thur", "thurs", "donnerstag", "jeudi", "jueves"),
            ("friday", "fri", "freitag", "vendredi", "viernes"),
            ("saturday", "sat", "samstag", "sonnabend", "samedi", "sabado"),
            ("sunday", "sun", "sonntag", "dimanche", "domingo"),
        )
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_WEEKDAY = r"(?P<weekday>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\b\.?,?"
_ARTICLE = r"(?:(?:the|dem|den|am|le|el)\s+)?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th|er|\.)?"
_YEAR = r"(?:,?\s*(?:de\s+)?(?P<year>\d{4}))?"

# The words that introduce the day someone is back ("until", "bis", "jusqu'au", "hasta"), and those that
# name the last day away instead ("through", "bis einschließlich", "al" in "del 2 al 6 de abril").
_UNTIL = (
    r"until|till|til|back|return(?:ing|s)?|reply\s+on"
    r"|bis(?:\s+(?:zum|zur|einschliesslich|einschl\.?|inkl\.?))?|zuruck|zurueck|wieder(?:\s+ab)?|ab"
    r"|jusqu'?(?:au|a|a\s+le)|de\s+retour|retour(?:\s+prevu)?|a\s+partir\s+du|des\s+le"
    r"|hasta|de\s+regreso|regreso|regresare|volvere|vuelvo|a\s+partir\s+del"
)
_LAST_DAY_AWAY = r"through|thru|to|bis\s+(?:einschliesslich|einschl\.?|inkl\.?)|al|au"
_INCLUSIVE_END = re.compile(r"(?:" + _LAST_DAY_AWAY + r")$")
# "12/03" after an English word is month first (US); after "bis", "jusqu'au", "hasta" it is day first.
_ENGLISH_ANCHOR = re.compile(r"until|till|til|back|return(?:ing|s)?|reply\s+on|through|thru|to")
# "jusqu'au 10 mars inclus", "until 6 March inclusive": the date named is the last day away.
_INCLUSIVE_AFTER = re.compile(
    r"\s*\(?(?:inclusive|inclus|incluse|einschliesslich|incluido|incluida|inclusive)\b"
)
_BACK = r"(?:" + _UNTIL + "|" + _LAST_DAY_AWAY + r")"

_DATE_FORMS = [
    # 2026-03-12
    re.compile(r"(?:" + _WEEKDAY + r"\s+)?(?P<iso>(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2}))"),
    # 03/12, 03/12/2026 (month first unless the first number cannot be a month), 20.03., 20.03.2026, 12.03.26
    re.compile(
        r"(?:"
        + _WEEKDAY
        + r"\s+)?"
        + _ARTICLE
        + r"(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?:(?P=sep)(?P<y2>\d{2,4}))?(?!\d)"
    ),
    # Monday 9 March, 9 March 2026, Tuesday 10th March, 9. März, Montag, den 9. März, 1er avril, 7 de abril
    re.compile(r"(?:" + _WEEKDAY + r"\s+)?" + _ARTICLE + _DAY + r"(?:\s+of|\s+de)?\s*" + _MONTH + _YEAR),
    # March 19th, Thursday, March 19th, 2026
    re.compile(r"(?:" + _WEEKDAY + r"\s+)?" + _MONTH + r"\s+" + _DAY + _YEAR),
    # the 16th
    re.compile(r"\bthe\s+" + _DAY + r"\b"),
    # Monday, next Monday, lundi prochain
    re.compile(r"\b(?:next\s+)?" + _WEEKDAY.replace(",?", "") + r"\b"),
]
_ANCHOR = re.compile(
    r"\b(?P<word>" + _BACK + r")\b(?:\s+(?:in|to)\s+the\s+office)?(?:\s+(?:on|by|in|am|le|el|dem|den))?\s+"
)
# "ab" is "from": the start of the absence ("ab dem 2. März im Urlaub") unless "wieder"/"zurück" says back.
_AB_MEANS_BACK = re.compile(r"\b(?:wieder|zuruck|zurueck)\b")

# "returning in August": the first working day of that month, as an estimate.
_MONTH_ONLY = re.compile(
    r"\b(?:back|return(?:ing)?|returns|zuruck|wieder|de\s+retour|retour|de\s+regreso|regreso|volvere)\s+"
    r"(?:in|by|at\s+the\s+(?:start|beginning)\s+of|im|ab|anfang|en|a\s+partir\s+de|debut|a\s+principios\s+de)\s+"
    + _MONTH
)
_TOMORROW = re.compile(
    r"\b(?:back|return(?:ing)?|zuruck|zurueck|wieder|de\s+retour|retour|de\s+regreso|regreso|vuelvo|volvere)"
    r"\s+(?:(?:ab|a\s+partir\s+de)\s+)?(?:tomorrow|morgen|demain|manana)\b"
    r"|\b(?:ab\s+)?morgen\s+(?:bin\s+ich\s+)?wieder\b|\bdes\s+demain\b"
)
_NEXT_WEEK = re.compile(
    r"\bnext\s+week\b|\bnachste[nr]?\s+woche\b|\bsemaine\s+prochaine\b"
    r"|\bproxima\s+semana\b|\bsemana\s+que\s+viene\b"
)


def read_return_date(text: str, received_on: date) -> tuple[date | None, bool]:
    """The day an out-of-office reply says its writer is back, and whether that day is an estimate.

    Reads, in English, German, French and Spanish: "back on Monday 9 March", "returning 03/12", "until
    2026-03-12", "until 20.03.", "bis zum 9. März", "bis 12.03.2026", "ab Montag wieder", "jusqu'au 5
    janvier", "de retour le lundi 9 mars", "hasta el 7 de abril", "back on the 16th", "until Monday",
    "back tomorrow", and the last day away — "from March 2 to March 6", "bis einschließlich 6. März",
    "del 2 al 6 de marzo" — as back the next day. Estimates "back next week" as next Monday and "returning in
    August" as its first working day. "Until" names the day the writer is back, as the English convention of
    this module has it. Returns (None, False) when no date is given, or when the date read lies in the past.
    A return day on a weekend moves to the Monday after.
    """
    text = fold(text)
    for anchor in _ANCHOR.finditer(text):
        word = anchor.group("word")
        if word == "ab" and not _AB_MEANS_BACK.search(text[max(0, anchor.start() - 40) : anchor.end() + 60]):
            continue
        day_first = not _ENGLISH_ANCHOR.fullmatch(word)
        tail = text[anchor.end() : anchor.end() + 60]
        found, length = _date_at_start(tail, received_on, day_first)
        if found is None:
            continue
        if _INCLUSIVE_END.match(word) or _INCLUSIVE_AFTER.match(tail[length:]):
            found += timedelta(days=1)
        if found < received_on:
            continue
        return _working_day(found), False
    if month := _MONTH_ONLY.search(text):
        month_number = MONTHS[month.group("month")]
        return _working_day(_next_occurrence(month_number, 1, received_on.replace(day=1))), True
    if _TOMORROW.search(text):
        return _working_day(received_on + timedelta(days=1)), False
    if _NEXT_WEEK.search(text):
        return received_on + timedelta(days=7 - received_on.weekday()), True
    return None, False


def _date_at_start(fragment: str, today: date, day_first: bool = False) -> tuple[date | None, int]:
    """The date at the start of ``fragment`` and the length of its text, or (None, 0)."""
    stripped = fragment.lstrip()
    offset = len(fragment) - len(stripped)
    if match := re.match(r"(?:tomorrow|morgen|demain|manana)\b", stripped):
        return today + timedelta(days=1), offset + match.end()
    for form in _DATE_FORMS:
        match = form.match(stripped)
        if match:
            return _to_date(match, today, day_first), offset + match.end()
    return None, 0


def _to_date(match: re.Match, today: date, day_first: bool) -> date | None:
    groups = {k: v for k, v in match.groupdict().items() if v}
    try:
        if "iso" in groups:
            return date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
        if "a" in groups:
            a, b = int(groups["a"]), int(groups["b"])
            # Dots are the European day-first form; slashes are month-first in English unless that is impossible.
            day, month = (a, b) if groups["sep"] == "." or day_first or a > 12 else (b, a)
            year = groups.get("y2")
            if year:
                return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
            return _next_occurrence(month, day, today)
        if "month" in groups and "day" in groups:
            month, day = MONTHS[groups["month"]], int(groups["day"])
            if "year" in groups:
                return date(int(groups["year"]), month, day)
            return _next_occurrence(month, day, today)
        if "day" in groups:
            day = int(groups["day"])
            month, year = today.month, today.year
            if day < today.day:
                month, year = (1, year + 1) if month == 12 else (month + 1, year)
            return date(year, month, day)
        if "weekday" in groups:
            weekday = WEEKDAYS[groups["weekday"]]
            ahead = (weekday - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    except ValueError:
        return None
    return None


def _next_occurrence(month: int, day: int, today: date) -> date:
    """The date with this month and day in the year that makes sense: a reply in December saying
    "back 5 Jan" means next year; one saying "back 3 March" in early March is a stale auto-reply and
    keeps its past date (which the caller then refuses)."""
    candidate = date(today.year, month, day)
    if candidate >= today or (today - candidate).days <= 90:
        return candidate
    return date(today.year + 1, month, day)


def _working_day(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day
