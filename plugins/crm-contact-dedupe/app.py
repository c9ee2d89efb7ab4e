"""crm-contact-dedupe: find the stored contact an incoming one duplicates, and merge into it or create it.

Input: ``{"contact": {"first_name", "last_name", "email", "phone", "company"}}``; every field is optional
except that an email or a phone is required.

Matching, in this order:

1. the normalised email (lowercased; Gmail dots and ``+tags`` dropped) of a stored contact: merge, score 1;
2. the phone in E.164 form (national numbers get ``default_country_code``): merge, score 1;
3. a fuzzy name match at the same company: among stored contacts at that company whose family names sound
   alike (Soundex), the best name similarity (given name x family name, Jaro-Winkler, nicknames and
   initials understood), merged when it reaches ``threshold``. Without a company on both sides there is no
   fuzzy match: a name alone is not evidence enough to merge two people's records.

Output: ``{"action": "merge"|"create", "contact_id", "score", "reasons": [..], "changes": [..],
"contact": {...}}``: the stored contact after the step, with display names, the canonical email and phone,
every email and phone seen (``emails``, ``phones``, the first 20 of each) and ``merge_count``.

Merge rules: the stored contact is the record of truth, so a field it has is kept; a field it lacks is filled
from the incoming contact; a one-letter given or family name ("J.") is replaced by a full name with the
same initial; new emails and phones are appended to ``emails`` and ``phones``. ``changes`` names each field
that changed.

State (kv, scoped to the tenant): ``contact:<id>`` the record; ``idx:email:<email>`` and ``idx:phone:<phone>``
the id that first claimed it (never taken over by a later contact); ``idx:name:<company>|<soundex>`` the ids
of the contacts in that block; ``seq`` the last id number handed out. Ids are ``c-000001``, ``c-000002``...
so a replay of the same inputs in the same order gives the same ids.

Config: ``default_country_code`` (default ``1``), ``threshold`` (0 < t <= 1, default ``0.85``).
Errors: ``invalid-input`` with ``missing-contact``, ``invalid-field``, ``field-too-long``,
``missing-email-and-phone``, ``invalid-email``, ``invalid-phone``; ``internal`` ``invalid-config``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import alur_step
import normalize
from alur_step import Internal, InvalidInput, config, kv, log

FIELDS = ("first_name", "last_name", "email", "phone", "company")
# Fields longer than this are not names: refusing them keeps kv keys under the host's 512-byte limit.
MAX_FIELD_CHARS = 256
# Contacts compared in one block at most (the newest): bounds a step's fuel whatever the data.
MAX_CANDIDATES = 500
# Emails and phones kept per contact: bounds the record, which the host caps at 1 MiB.
MAX_ALTERNATES = 20
DEFAULT_THRESHOLD = 0.85


def _threshold() -> float:
    value = config.parse("threshold", float, DEFAULT_THRESHOLD)
    if not 0.0 < value <= 1.0:
        raise Internal("invalid-config", f"config key `threshold` = {value} must be above 0 and at most 1")
    return value


def _country_code() -> str:
    code = (config.get("default_country_code") or "1").strip().lstrip("+")
    if not code.isdigit() or not 1 <= len(code) <= 3:
        raise Internal("invalid-config", f"config key `default_country_code` = `{code}` must be 1 to 3 digits")
    return code


def parse_contact(input: Dict[str, Any], country_code: str) -> Dict[str, Optional[str]]:
    """The incoming contact with display names and canonical email and phone; raises ``InvalidInput``."""
    raw = input.get("contact")
    if not isinstance(raw, dict):
        raise InvalidInput("missing-contact", "the input must have a `contact` object")
    contact: Dict[str, Optional[str]] = {}
    for field in FIELDS:
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            raise InvalidInput("invalid-field", f"contact.{field} must be a string, got {type(value).__name__}")
        value = normalize.clean(value) if value else ""
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput("field-too-long", f"contact.{field} is over {MAX_FIELD_CHARS} characters")
        contact[field] = value or None
    if contact["email"] is None and contact["phone"] is None:
        raise InvalidInput("missing-email-and-phone", "a contact needs an email or a phone to be deduplicated")
    if contact["email"] is not None:
        try:
            contact["email"] = normalize.email(contact["email"])
        except ValueError as e:
            raise InvalidInput("invalid-email", f"contact.email: {e}") from None
    if contact["phone"] is not None:
        try:
            contact["phone"] = normalize.phone(contact["phone"], country_code)
        except ValueError as e:
            raise InvalidInput("invalid-phone", f"contact.phone: {e}") from None
    return contact


def _key(text: Optional[str]) -> str:
    return normalize.fold(text) if text else ""


def name_block(contact: Dict[str, Any]) -> Optional[str]:
    """The kv key of the fuzzy-match block a contact belongs to; None without a company or a family name."""
    company = normalize.company_key(contact["company"]) if contact.get("company") else ""
    last = _key(contact.get("last_name"))
    if not company or not last:
        return None
    # Clipped so that the key stays under the host's 512-byte limit whatever the script of the names.
    return f"idx:name:{normalize.clip(company, 300)}|{normalize.soundex(last) or normalize.clip(last, 100)}"


def _load(contact_id: str) -> Optional[Dict[str, Any]]:
    return kv.get(f"contact:{contact_id}")


def find_fuzzy(incoming: Dict[str, Any], threshold: float) -> Tuple[Optional[Dict[str, Any]], float]:
    """The most similar stored contact in the incoming contact's block, and its score (0.0 for none)."""
    block = name_block(incoming)
    if block is None:
        return None, 0.0
    first, last = _key(incoming["first_name"]), _key(incoming["last_name"])
    best, best_score = None, 0.0
    for contact_id in kv.get(block, [])[-MAX_CANDIDATES:]:
        candidate = _load(contact_id)
        if candidate is None:
            continue
        score = normalize.name_similarity(first, last, _key(candidate["first_name"]), _key(candidate["last_name"]))
        # Strictly greater: among equal scores the oldest contact (first in the block) wins, deterministically.
        if score > best_score:
            best, best_score = candidate, score
    return best, best_score


def _is_initial_of(short: Optional[str], full: Optional[str]) -> bool:
    s, f = _key(short), _key(full)
    return len(s) == 1 and len(f) > 1 and f[0] == s


def merge(existing: Dict[str, Any], incoming: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """The stored contact with the incoming one merged in, and the fields that changed (rules in the module
    docstring)."""
    merged = dict(existing)
    changes: List[str] = []
    for field in FIELDS:
        new = incoming.get(field)
        if new is None:
            continue
        old = merged.get(field)
        if old is None or (field in ("first_name", "last_name") and _is_initial_of(old, new)):
            merged[field] = new
            changes.append(field)
    for field, many in (("email", "emails"), ("phone", "phones")):
        new = incoming.get(field)
        if new is not None and new not in merged[many] and len(merged[many]) < MAX_ALTERNATES:
            merged[many] = merged[many] + [new]
            changes.append(many)
    merged["merge_count"] = existing["merge_count"] + 1
    return merged, changes


def _new_record(contact_id: str, incoming: Dict[str, Any]) -> Dict[str, Any]:
    record: Dict[str, Any] = {"id": contact_id}
    record.update({field: incoming[field] for field in FIELDS})
    record["emails"] = [incoming["email"]] if incoming["email"] else []
    record["phones"] = [incoming["phone"]] if incoming["phone"] else []
    record["merge_count"] = 0
    return record


def _next_id() -> str:
    seq = kv.get("seq", 0) + 1
    kv.set("seq", seq)
    return f"c-{seq:06d}"


def _store(record: Dict[str, Any]) -> None:
    """Writes the record and claims its index keys; an email or phone already claimed by another contact
    stays with it, so the first contact to use an address keeps receiving its matches."""
    contact_id = record["id"]
    kv.set(f"contact:{contact_id}", record)
    for prefix, values in (("idx:email:", record["emails"]), ("idx:phone:", record["phones"])):
        for value in values:
            if kv.get(prefix + value) is None:
                kv.set(prefix + value, contact_id)
    block = name_block(record)
    if block is not None:
        members = kv.get(block, [])
        if contact_id not in members:
            kv.set(block, members + [contact_id])


def run(ctx: alur_step.Context, input: Dict[str, Any]) -> Dict[str, Any]:
    incoming = parse_contact(input, _country_code())
    threshold = _threshold()

    by_email = kv.get(f"idx:email:{incoming['email']}") if incoming["email"] else None
    by_phone = kv.get(f"idx:phone:{incoming['phone']}") if incoming["phone"] else None
    reasons: List[str] = []
    target: Optional[Dict[str, Any]] = None
    score = 0.0
    if by_email is not None or by_phone is not None:
        target_id = by_email if by_email is not None else by_phone
        target = _load(target_id)
        if target is None:
            raise Internal("invalid-state", f"an index points to contact {target_id}, which is not stored")
        score = 1.0
        if by_email is not None:
            reasons.append("email-match")
        if by_phone == target_id:
            reasons.append("phone-match")
        elif by_phone is not None:
            reasons.append(f"phone-belongs-to {by_phone}")
            log.warn(f"{incoming['phone']} belongs to {by_phone}; merging into {target_id} by email")
    else:
        candidate, score = find_fuzzy(incoming, threshold)
        if candidate is not None and score >= threshold:
            target = candidate
            reasons += [f"name-similarity {score:.3f}", "same-company"]
        elif candidate is not None:
            reasons.append(f"closest {candidate['id']} name-similarity {score:.3f} below {threshold}")
        else:
            reasons.append("no-match")

    if target is not None:
        record, changes = merge(target, incoming)
        action = "merge"
    else:
        record, changes = _new_record(_next_id(), incoming), []
        action = "create"
    _store(record)
    log.info(f"{action} {record['id']} ({', '.join(reasons)})")
    return {
        "action": action,
        "contact_id": record["id"],
        "score": round(score, 4),
        "reasons": reasons,
        "changes": changes,
        "contact": record,
    }


# componentize-py instantiates the class named WitWorld in this module and calls its `run`.
WitWorld = alur_step.export(run)
