"""Pseudonymisation at the edge: the only place a hospital's visit number is seen.

`encounter_id` turns (partner id, visit number) into an opaque id with HMAC-SHA256 under a
secret key per deployment: the same visit always gives the same id (so the pipeline can
link an A01 to its A03), and without the key no one can go back from the id to the visit.
`event_id` does the same for the CloudEvents `id` of a gateway event, so a message control
id or visit number never appears in an event either.

Ids are written in a letters-only base-32 alphabet: the contract's id pattern
(`[A-Za-z0-9._:-]`, at most 64 characters) is met, and an id can never hold a run of nine
digits that the validator would refuse as a possible BSN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

#: Shortest key accepted: an HMAC key anyone can guess pseudonymises nothing.
MIN_KEY_CHARS = 32
# Base32's digits 2-7 become upper-case letters: ids are letters only (no BSN-like runs).
_NO_DIGITS = str.maketrans("234567", "ABCDEF")
# Separates the hashed parts; a unit separator cannot occur in a partner id or HL7 field.
_SEP = "\x1f"


class PseudonymKeyError(ValueError):
    """No usable pseudonymisation key: the gateway and `convert` refuse to run."""


def _letters(digest: bytes) -> str:
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower().translate(_NO_DIGITS)


def _mac(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, _SEP.join(parts).encode("utf-8"), hashlib.sha256).digest()


def encounter_id(key: bytes, partner_id: str, visit_number: str) -> str:
    """The pseudonymous `encounter_id` of a partner's visit (52 letters)."""
    return _letters(_mac(key, "encounter", partner_id, visit_number))


def event_id(key: bytes, prefix: str, *parts: str) -> str:
    """A deterministic CloudEvents `id` (`{prefix}-` + 40 letters) from the given parts."""
    return f"{prefix}-{_letters(_mac(key, 'event', prefix, *parts))[:40]}"


def load_key(key: str = "", key_file: str = "") -> bytes:
    """The key from its value or a secret file (the file wins when both are given, as
    mounted secrets are what production uses). Raises PseudonymKeyError when missing or
    shorter than MIN_KEY_CHARS; surrounding whitespace (a file's newline) is dropped."""
    if key_file:
        try:
            key = Path(key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise PseudonymKeyError(f"cannot read the pseudonym key file {key_file}: {exc.strerror}") from None
    key = key.strip()
    fix = ("set SPOEDSTROOM_PSEUDONYM_KEY (or SPOEDSTROOM_PSEUDONYM_KEY_FILE) to a random secret "
           f"of at least {MIN_KEY_CHARS} characters, e.g. `openssl rand -hex 32`, the same for "
           "every gateway of the deployment")
    if not key:
        raise PseudonymKeyError(f"no pseudonymisation key: {fix}")
    if len(key) < MIN_KEY_CHARS:
        raise PseudonymKeyError(f"the pseudonymisation key has {len(key)} characters: {fix}")
    return key.encode("utf-8")
