"""Reply classification: what a lead's reply means for their sequences, decided by readable rules.

``classify(text, received_on)`` returns one of the lead reply sentiments — ``unsubscribe``,
``out_of_office`` (with the return date when the reply says it), ``negative``, ``positive`` or
``neutral`` — and the phrase that decided it, so a rep can see why and correct it.

The order of the checks is the order of what matters most: a request to stop is honoured even when the
reply says other things too; an auto-reply is an auto-reply whatever its signature says; a refusal
("not interested") is read before the words that would otherwise look interested. Quoted text of our
own email (which carries an unsubscribe link) is removed first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

SENTIMENTS = ("positive", "neutral", "negative", "out_of_office", "unsubscribe")


@dataclass(frozen=True)
class Classification:
    sentiment: str
    # The phrase that decided it (empty for neutral): shown to the rep next to the verdict.
    reason: str = ""
    # Out-of-office only: the day the lead says they are back, when the reply says so.
    return_on: date | None = None
    # True when the return date is our reading of a vague phrase ("back next week").
    return_estimated: bool = False
    # True when the classifier is not sure: a person decides (the triage queue) and the lead's
    # enrollments wait meanwhile. Never left False for a reply that may be asking to stop.
    needs_person: bool = False


def _rx(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


UNSUBSCRIBE = _rx(
    r"\bunsubscribe\b",
    r"\bopt(?:\s|-)?(?:me\s+)?out\b",
    r"\bremove\s+(?:me|my\s+(?:e-?mail|address|details|data|name))\b",
    r"\b(?:take|get)\s+(?:me|my\s+(?:name|e-?mail|address|details))\s+off\b",
    r"\bstop\s+(?:e-?mailing|sending|contacting|messaging|writing)\b",
    r"\b(?:do\s+not|don'?t|never)\s+(?:contact|e-?mail|message|write\s+to)\s+me\b",
    r"\bno\s+more\s+(?:e-?mails|messages)\b",
    r"\bdelete\s+my\s+(?:data|details|information|e-?mail)\b",
    r"\b(?:get|be|keep)\s+(?:me\s+)?off\s+(?:this|your|the|these)\s+(?:mailing\s+|e-?mail\s+)?lists?\b",
    r"(?:^|[.!?]\s*)(?:please\s+)?stop\s*(?:[.!]|$)",
    r"^\s*(?:please\s+)?remove(?:\s+me)?\s*[.!]*\s*$",
)

OUT_OF_OFFICE = _rx(
    r"\bout\s+of\s+(?:the\s+)?office\b",
    r"\bOOO\b",
    r"\bautomatic\s+reply\b",
    r"\bauto-?\s?reply\b",
    r"\bautoreply\b",
    r"\bon\s+(?:annual|parental|maternity|paternity|sick|medical|study)\s+leave\b",
    r"\bon\s+(?:vacation|holiday|holidays|leave|sabbatical)\b",
    r"\baway\s+from\s+(?:my\s+desk|the\s+office)\b",
    r"\b(?:limited|sporadic|intermittent|no)\s+(?:access\s+to\s+)?(?:my\s+)?e-?mails?\b",
    r"\baway\s+on\s+(?:business|travel|leave|holiday|vacation)\b",
    r"\b(?:currently|presently)\s+(?:away|travel(?:l)?ing)\b",
    r"\bback\s+in\s+the\s+office\b",
    r"\bwill\s+(?:respond|reply)\s+(?:to\s+your\s+(?:e-?mail|message)\s+)?(?:when|on\s+my\s+return|as\s+soon\s+as)",
)

NEGATIVE = _rx(
    r"\bnot\s+(?:\w+\s+){0,2}interested\b",
    r"\bno\s+longer\s+interested\b",
    r"\bno,?\s+thank(?:s|\s+you)\b",
    r"\bbut\s+no\s+thanks\b",
    r"\bnot\s+a\s+(?:good\s+|great\s+)?fit\b",
    r"\b(?:isn'?t|is\s+not|not)\s+a\s+priority\b",
    r"\b(?:already|recently)\s+(?:signed|chose|chosen|selected|picked|went|gone|use|using|have|work\s+with)\b",
    r"\bwent\s+with\s+(?:a|another|an)\b",
    r"\bno\s+budget\b",
    r"\b(?:don'?t|do\s+not)\s+have\s+(?:the\s+|any\s+)?budget\b",
    r"\bnot\s+(?:currently\s+)?(?:looking|in\s+the\s+market)\b",
    r"\bwe'?ll\s+pass\b|\bpass\s+on\s+this\b",
    r"\bit'?s\s+a\s+no\b",
    r"\bdecided\s+not\s+to\b",
    r"\bhappy\s+with\s+our\s+current\b",
    r"\b(?:we'?re|we\s+are|i'?m|i\s+am)\s+all\s+set\b",
    r"\b(?:going\s+to|gonna|will|'ll)\s+pass\b(?!\s+(?:this|it|that|your\s+\w+)\s+(?:on|along|to))",
    r"\b(?:didn'?t|did\s+not|doesn'?t|won'?t)\s+work\s+for\s+us\b",
    r"\bwon'?t\s+be\s+(?:buying|purchasing|investing|moving\s+forward|adding)\b",
    r"\b(?:hiring|budget|spending|purchasing)\s+freeze\b",
    r"\b(?:stick|sticking|stay|staying)\s+with\s+(?:what|our|the)\b",
    r"^\s*(?:nope|no|nah)\s*[.!]*\s*$",
    r"\b(?:doesn'?t|does\s+not)\s+apply\s+to\s+us\b|\bnot\s+relevant\s+(?:to|for)\s+us\b",
)

POSITIVE = _rx(
    r"\binterested\b",
    r"\blet'?s\s+(?:talk|chat|connect|meet|schedule|set\s+up|book|find\s+a\s+time|do\s+it|discuss)\b",
    r"\b(?:set\s+up|schedule|book|arrange)\s+(?:a\s+|something\s+|some\s+time\s+)?(?:call|meeting|demo|chat|time|in)\b",
    r"\b(?:happy|keen|glad|love|like)\s+to\s+(?:chat|talk|meet|connect|learn|see|hear|jump|get)\b",
    r"\bwould\s+be\s+keen\b",
    r"\bwe'?d\s+love\b|\bi'?d\s+love\b",
    r"\b(?:send|share)\s+(?:me\s+|us\s+|over\s+)*(?:more\s+|some\s+|the\s+|a\s+)?(?:info|information|details|pricing|prices|quote|proposal|case\s+stud)",
    r"\bpricing\b|\bquote\b",
    r"\b(?:a|the|quick)\s+(?:demo|walkthrough|trial)\b",
    r"\bcalendar\s+link\b",
    r"\b(?:when|are)\s+(?:are\s+)?you\s+(?:free|available)\b",
    r"\bhow\s+does\s+\w+day\b|\bdoes\s+\w+day\s+(?:at\s+)?\S*\s*work\b",
    r"\b(?:jump|hop|get)\s+on\s+a\s+call\b",
    r"\bworth\s+a\s+(?:conversation|chat|call)\b",
    r"\b(?:great|good)\s+(?:fit|timing)\b|\btimely\b",
    r"\btell\s+me\s+more\b|\blearn\s+more\b|\bhearing\s+more\b",
    r"\bany\s+slots\b|\bfree\s+(?:most|on|next)\b",
    r"\bsounds\s+(?:good|great|interesting)\b",
    r"\bwhat\s+(?:would|does|will)\s+(?:it|this|that)\s+cost\b|\bhow\s+much\b",
    r"\b(?:a\s+)?(?:couple\s+of\s+|few\s+)?times?\s+that\s+works?\b",
    r"\bwalk\s+(?:me|us|my\s+team|the\s+team|them)\s+through\b",
    r"\bwants?\s+to\s+(?:meet|talk|chat|see\s+a\s+demo|learn\s+more)\b",
    r"\bare\s+you\s+(?:around|free|available)\b",
    r"\bgot\s+my\s+attention\b",
    r"\bopen\s+to\s+(?:a|an)\b",
    r"\blooking\s+forward\b",
    r"\bnext\s+steps?\b",
    r"\b(?:shopping|looking)\s+for\s+(?:exactly\s+)?(?:this|something\s+like\s+this)\b",
    r"\bcan\s+you\s+do\s+(?:next\s+)?\w+day\b",
)

# Where our own email starts in a reply: everything from here on is quoted, not the lead's words.
_QUOTE_START = re.compile(
    r"^\s*(?:On\s.{0,200}\swrote:|-{2,}\s*Original Message\s*-{2,}|From:\s.+|Sent from my \w+)",
    re.IGNORECASE | re.MULTILINE,
)


def own_words(text: str) -> str:
    """The reply without the quoted email beneath it (``>`` lines, "On … wrote:" and what follows)."""
    match = _QUOTE_START.search(text)
    if match:
        text = text[: match.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">")).strip()


def classify(text: str, received_on: date) -> Classification:
    """Classify a reply received on ``received_on`` (the day relative dates are read from)."""
    words = own_words((text or "").replace("\u2019", "'"))
    if not words:
        return Classification("neutral")
    if match := UNSUBSCRIBE.search(words):
        return Classification("unsubscribe", match.group(0))
    if match := OUT_OF_OFFICE.search(words):
        return_on, estimated = read_return_date(words, received_on)
        return Classification("out_of_office", match.group(0), return_on, estimated)
    if match := NEGATIVE.search(words):
        return Classification("negative", match.group(0))
    if match := POSITIVE.search(words):
        return Classification("positive", match.group(0))
    return Classification("neutral")


# ---------------------------------------------------------------------------------------------------
# Return dates in out-of-office replies
# ---------------------------------------------------------------------------------------------------

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?P<weekday>" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\.?,?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s*(?P<year>\d{4}))?"

# The words that introduce the day someone is back. "through"/"to" name the last day away instead.
_BACK = r"(?:back|return(?:ing|s)?|reply\s+on|until|till|til|through|thru|to)"
_INCLUSIVE_END = ("through", "thru", "to")

_DATE_FORMS = [
    # 2026-03-12
    re.compile(
        r"(?:" + _WEEKDAY + r"\s+)?(?P<iso>(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2}))", re.IGNORECASE
    ),
    # 03/12, 03/12/2026 (month first unless the first number cannot be a month), 20.03., 20.03.2026
    re.compile(
        r"(?:"
        + _WEEKDAY
        + r"\s+)?(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?:(?P=sep)(?P<y2>\d{2,4}))?(?!\d)",
        re.IGNORECASE,
    ),
    # Monday 9 March, 9 March 2026, Tuesday 10th March
    re.compile(
        r"(?:" + _WEEKDAY + r"\s+)?(?:the\s+)?" + _DAY + r"(?:\s+of)?\s+" + _MONTH + _YEAR, re.IGNORECASE
    ),
    # March 19th, Thursday, March 19th, 2026
    re.compile(r"(?:" + _WEEKDAY + r"\s+)?" + _MONTH + r"\s+" + _DAY + _YEAR, re.IGNORECASE),
    # the 16th
    re.compile(r"\bthe\s+" + _DAY + r"\b", re.IGNORECASE),
    # Monday
    re.compile(r"\b(?:next\s+)?" + _WEEKDAY.replace(",?", "") + r"\b", re.IGNORECASE),
]
_ANCHOR = re.compile(
    r"\b" + _BACK + r"\b(?:\s+(?:in|to)\s+the\s+office)?(?:\s+(?:on|by|in))?\s+", re.IGNORECASE
)

# "returning in August": the first working day of that month, as an estimate.
_MONTH_ONLY = re.compile(
    r"\b(?:back|return(?:ing)?|returns)\s+(?:in|by|at\s+the\s+(?:start|beginning)\s+of)\s+" + _MONTH + r"\b",
    re.IGNORECASE,
)


def read_return_date(text: str, received_on: date) -> tuple[date | None, bool]:
    """The day an out-of-office reply says its writer is back, and whether that day is an estimate.

    Reads "back on Monday 9 March", "returning 03/12", "until 2026-03-12", "until 20.03.", "back on the
    16th", "until Monday", "back tomorrow", "from March 2 to March 6" (back the next working day), and
    estimates "back next week" as next Monday and "returning in August" as its first working day. Returns (None, False) when no date is given, or when the
    date read lies in the past. A return day on a weekend moves to the Monday after.
    """
    for anchor in _ANCHOR.finditer(text):
        tail = text[anchor.end() : anchor.end() + 60]
        found = _date_at_start(tail, received_on)
        if found is None:
            continue
        if anchor.group(0).strip().lower().split()[0] in _INCLUSIVE_END:
            found += timedelta(days=1)
        if found < received_on:
            continue
        return _working_day(found), False
    lowered = text.lower()
    if month := _MONTH_ONLY.search(text):
        month_number = MONTHS[month.group("month").lower()]
        return _working_day(_next_occurrence(month_number, 1, received_on.replace(day=1))), True
    if re.search(r"\b(?:back|return(?:ing)?)\s+tomorrow\b", lowered):
        return _working_day(received_on + timedelta(days=1)), False
    if re.search(r"\bnext\s+week\b", lowered):
        return received_on + timedelta(days=7 - received_on.weekday()), True
    return None, False


def _date_at_start(fragment: str, today: date) -> date | None:
    fragment = fragment.strip()
    lowered = fragment.lower()
    if lowered.startswith("tomorrow"):
        return today + timedelta(days=1)
    for form in _DATE_FORMS:
        match = form.match(fragment)
        if match:
            return _to_date(match, today)
    return None


def _to_date(match: re.Match, today: date) -> date | None:
    groups = {k: v for k, v in match.groupdict().items() if v}
    try:
        if "iso" in groups:
            return date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
        if "a" in groups:
            a, b = int(groups["a"]), int(groups["b"])
            # Dots are the European day-first form; slashes are month-first unless that is impossible.
            day, month = (a, b) if groups["sep"] == "." or a > 12 else (b, a)
            year = groups.get("y2")
            if year:
                return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
            return _next_occurrence(month, day, today)
        if "month" in groups and "day" in groups:
            month, day = MONTHS[groups["month"].lower()], int(groups["day"])
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
            weekday = WEEKDAYS[groups["weekday"].lower().rstrip(".,")]
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
