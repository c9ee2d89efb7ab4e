"""Normalisation and similarity of contact fields: pure functions, no host calls.

Two forms of every text field exist: the *display* form kept in the stored contact (trimmed, inner whitespace
collapsed, case and accents as the person wrote them) and the *match key* (accents stripped, casefolded,
punctuation dropped) that comparisons and index keys use, so "José  García" and "jose garcia" are the same name.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

# Letters that NFKD does not decompose into a base letter plus a combining mark.
_FOLD = str.maketrans(
    {
        "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
        "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ı": "i",
    }
)  # fmt: skip
# Apostrophes vanish (O'Brien = OBrien); other punctuation separates words (Jean-Luc = Jean Luc).
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[\W_]+")


def clip(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def clean(text: str) -> str:
    """The display form: trimmed, inner whitespace collapsed."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """The match key of a text: accents stripped, casefolded, punctuation dropped, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", bare)).split())


# --- email ---------------------------------------------------------------------------------------------------

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}
MAX_EMAIL_BYTES = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]+$")


def email(raw: str) -> str:
    """The canonical address: lowercased; at Gmail, dots and a ``+tag`` in the local part are dropped, because
    Gmail delivers ``j.o.e+crm@gmail.com`` to ``joe@gmail.com``. Raises ``ValueError`` for a malformed one."""
    address = raw.strip().lower()
    if address.startswith("mailto:"):
        address = address[len("mailto:") :]
    if not _EMAIL.match(address):
        raise ValueError(f"{raw.strip()!r} is not an email address of the form local@domain.tld")
    local, domain = address.rsplit("@", 1)
    domain = domain.rstrip(".")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    if not local:
        raise ValueError(f"{raw.strip()!r} has an empty local part")
    canonical = f"{local}@{domain}"
    if len(canonical.encode("utf-8")) > MAX_EMAIL_BYTES:
        raise ValueError(f"an address is at most {MAX_EMAIL_BYTES} bytes long (RFC 5321)")
    return canonical


# --- phone ---------------------------------------------------------------------------------------------------

_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")


def phone(raw: str, default_country_code: str) -> str:
    """The number in E.164 form, ``+`` then country code and number, extension dropped.

    A number written with ``+`` or ``00`` carries its own country code. Otherwise it is national: one leading
    trunk ``0`` is dropped (``030 1234567`` in Germany) and ``default_country_code`` is put in front, except
    that with country code 1 an 11-digit number starting with 1 already has it (``1-555-...``).
    Raises ``ValueError`` for letters or a digit count outside E.164's 8 to 15.
    """
    text = _EXTENSION.sub("", raw.strip())
    if not _PHONE_CHARS.match(text):
        raise ValueError(f"{raw.strip()!r} has characters a phone number cannot have")
    international = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    if not international and digits.startswith("00"):
        international, digits = True, digits[2:]
    if not international:
        if default_country_code == "1" and len(digits) == 11 and digits.startswith("1"):
            pass
        else:
            if digits.startswith("0"):
                digits = digits[1:]
            digits = default_country_code + digits
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"{raw.strip()!r} has {len(digits)} digits with its country code; E.164 allows 8 to 15")
    return "+" + digits


# --- company -------------------------------------------------------------------------------------------------

# Legal forms that do not tell two companies apart: "Acme Inc." and "ACME, LLC" are the same account here.
LEGAL_SUFFIXES = {
    "inc", "incorporated", "llc", "llp", "ltd", "limited", "corp", "corporation", "co", "company", "plc",
    "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "aps", "pty", "kk",
}  # fmt: skip


def company_key(raw: str) -> str:
    """The match key of a company: folded, ``&`` read as ``and``, a leading ``the`` and trailing legal forms
    dropped (``The Acme Company, Inc.`` -> ``acme``)."""
    words = fold(raw.replace("&", " and ")).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words = words[:-1]
    return " ".join(words)


# --- names ---------------------------------------------------------------------------------------------------

# Common English nicknames, each to its given name; a nickname and its name compare as near-equal.
NICKNAMES = {
    "bob": "robert", "rob": "robert", "bobby": "robert", "bill": "william", "will": "william",
    "liz": "elizabeth", "beth": "elizabeth", "betty": "elizabeth", "jim": "james", "jimmy": "james",
    "mike": "michael", "dick": "richard", "rick": "richard", "tom": "thomas", "tony": "anthony",
    "kate": "katherine", "kathy": "katherine", "katie": "katherine", "dave": "david", "dan": "daniel",
    "chris": "christopher", "joe": "joseph", "jack": "john", "johnny": "john", "peggy": "margaret",
    "maggie": "margaret", "sam": "samuel", "steve": "steven", "alex": "alexander", "andy": "andrew",
    "ben": "benjamin", "matt": "matthew", "nick": "nicholas", "pat": "patricia", "sue": "susan",
}  # fmt: skip
NICKNAME_SIMILARITY = 0.95
INITIAL_SIMILARITY = 0.9
# When one side has no first name, the last name alone is weak evidence: at most this much.
MISSING_FIRST_NAME = 0.8


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    """Jaro-Winkler similarity of two strings, 0.0 (nothing in common) to 1.0 (equal)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(0, max(len(a), len(b)) // 2 - 1)
    a_matched = [False] * len(a)
    b_matched = [False] * len(b)
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not b_matched[j] and b[j] == ch:
                a_matched[i] = b_matched[j] = True
                matches += 1
                break
    if matches == 0:
        return 0.0
    a_seq = [ch for ch, m in zip(a, a_matched) if m]
    b_seq = [ch for ch, m in zip(b, b_matched) if m]
    transpositions = sum(x != y for x, y in zip(a_seq, b_seq)) / 2
    jaro = (matches / len(a) + matches / len(b) + (matches - transpositions) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


def _is_initial(key: str) -> bool:
    return len(key) == 1


def first_name_similarity(a: str, b: str) -> float:
    """Similarity of two folded given names: Jaro-Winkler, raised for a nickname pair (Bob, Robert) or an
    initial that fits (J, John)."""
    if not a or not b:
        return MISSING_FIRST_NAME
    if a == b:
        return 1.0
    if _is_initial(a) or _is_initial(b):
        return INITIAL_SIMILARITY if a[0] == b[0] else 0.0
    score = jaro_winkler(a, b)
    if NICKNAMES.get(a, a) == NICKNAMES.get(b, b):
        score = max(score, NICKNAME_SIMILARITY)
    return score


def name_similarity(first_a: str, last_a: str, first_b: str, last_b: str) -> float:
    """Similarity of two people's folded names, 0.0 to 1.0: given-name similarity times family-name
    similarity, so that a different given name (John and Jane Smith) sinks the score even when the family
    name is equal. A swapped order (Smith John) is tried too."""
    if not last_a or not last_b:
        return 0.0

    def product(fa: str, la: str, fb: str, lb: str) -> float:
        return first_name_similarity(fa, fb) * jaro_winkler(la, lb)

    direct = product(first_a, last_a, first_b, last_b)
    swapped = product(first_a, last_a, last_b, first_b) if first_b else 0.0
    return max(direct, swapped)


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
    "l": "4", **dict.fromkeys("mn", "5"), "r": "6",
}  # fmt: skip


def soundex(key: str) -> Optional[str]:
    """American Soundex of a folded name (Smith and Smyth are both S530), the blocking key that finds
    candidates for a fuzzy comparison; None when the name has no latin letter."""
    letters = [ch for ch in key if "a" <= ch <= "z"]
    if not letters:
        return None
    code = letters[0].upper()
    last = _SOUNDEX_CODES.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch, "")
        if digit and digit != last:
            code += digit
            if len(code) == 4:
                break
        if ch not in "hw":
            last = digit
    return code.ljust(4, "0")
