"""Was this adapter trained for this base? Three answers, from whatever evidence a file carries.

An adapter stamped by slipway's training tools records the base's
fingerprint, which settles the question. Most adapters are not: llama.cpp's
converter records the base's name, organization and repository when it knows
them, a PEFT directory records `base_model_name_or_path`, and some record
nothing at all. Refusing every unstamped adapter would push operators to
vouch for adapters blindly (`--trust-base`), which is worse than looking at
what the file does say. So each kind of reader turns what it found into
`Evidence` and `judge` reduces the evidence to one of three states:

* verified: a fingerprint matches, or the recorded identity names this base
  and every supporting fact (architecture, tensor shapes) fits;
* mismatch: a fingerprint differs, or the recorded identity names another
  base (or names this one while its tensors do not fit);
* unknown: nothing was recorded that could be compared. Deploys want
  verified, so the operator is told how to record the base on their word.

The rules live here, not in the GGUF reader, so that a PEFT check can hand
in its own evidence and be judged the same way.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slipway.core.errors import ValidationError


class IdentityState(StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    MATCH = "match"
    DIFFER = "differ"
    #: Could not be compared (one side records nothing, or it does not apply).
    UNCHECKED = "unchecked"


class Weight(StrEnum):
    #: Settles the question alone: a fingerprint, a repository, organization plus name.
    STRONG = "strong"
    #: Names a base, but a name alone could be shared: needs the supporting facts to fit.
    NAME = "name"
    #: Cannot say which base, only whether this one is plausible: architecture, shapes, vocabulary.
    SUPPORTING = "supporting"


@dataclass(frozen=True)
class Evidence:
    """One comparison between what the adapter records and what the base is."""

    subject: str
    verdict: Verdict
    weight: Weight
    #: Both sides in words, e.g. "adapter: 'Llama 3.2 1B'; base: 'Llama 3.2 1B'".
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "verdict": str(self.verdict),
            "weight": str(self.weight),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Trust:
    """An operator's word that an adapter belongs to a base, and when it was given."""

    by: str
    at: str
    base: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"by": self.by, "at": self.at, "base": self.base}

    def words(self) -> str:
        return f"on the word of {self.by} ({self.at})"


@dataclass(frozen=True)
class BaseIdentity:
    state: IdentityState
    #: One sentence: what decided it.
    summary: str
    evidence: tuple[Evidence, ...] = ()
    #: What to do next (unknown and mismatch only).
    hint: str | None = None
    #: Set when the deciding fingerprint was recorded on an operator's word.
    trust: Trust | None = None
    #: For a mismatch: the base the adapter records, and this base, in the same terms.
    found: str | None = None
    expected: str | None = None

    @property
    def verified(self) -> bool:
        return self.state is IdentityState.VERIFIED

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "summary": self.summary,
            "trusted": self.trust.to_dict() if self.trust is not None else None,
            "evidence": [e.to_dict() for e in self.evidence],
            "hint": self.hint,
        }


def judge(evidence: Sequence[Evidence]) -> tuple[IdentityState, tuple[Evidence, ...]]:
    """The state the evidence supports, and the items that decided it.

    A strong difference outweighs everything (two fingerprints or two
    repositories cannot both be right); a strong match outweighs a differing
    name (names are derived and may be spelled differently). A name match
    counts only when no supporting fact contradicts it and the architecture
    and tensor shapes were actually seen to fit.
    """
    strong = [e for e in evidence if e.weight is Weight.STRONG]
    names = [e for e in evidence if e.weight is Weight.NAME]
    support = [e for e in evidence if e.weight is Weight.SUPPORTING]
    strong_differ = [e for e in strong if e.verdict is Verdict.DIFFER]
    if strong_differ:
        return IdentityState.MISMATCH, tuple(strong_differ)
    strong_match = [e for e in strong if e.verdict is Verdict.MATCH]
    support_differ = [e for e in support if e.verdict is Verdict.DIFFER]
    if strong_match:
        if support_differ:
            return IdentityState.MISMATCH, (*strong_match, *support_differ)
        return IdentityState.VERIFIED, tuple(strong_match)
    names_differ = [e for e in names if e.verdict is Verdict.DIFFER]
    if names_differ:
        return IdentityState.MISMATCH, tuple(names_differ)
    names_match = [e for e in names if e.verdict is Verdict.MATCH]
    if names_match:
        if support_differ:
            return IdentityState.MISMATCH, (*names_match, *support_differ)
        unseen = [e for e in support if e.subject in _NEEDED_SUPPORT and e.verdict is not Verdict.MATCH]
        seen = {e.subject for e in support if e.verdict is Verdict.MATCH}
        if not unseen and _NEEDED_SUPPORT <= seen:
            return IdentityState.VERIFIED, (*names_match, *(e for e in support if e.verdict is Verdict.MATCH))
    return IdentityState.UNKNOWN, ()


#: What a name match must be backed by before it counts.
_NEEDED_SUPPORT = frozenset({"architecture", "tensor shapes"})


# --------------------------------------------------------------------------- comparing names


def normalize_name(text: str) -> str:
    """Case, spaces, dashes and underscores ignored: "Llama-3.2-1B" and "llama 3.2 1b" are one name."""
    return re.sub(r"[^0-9a-z.]+", "", text.casefold())


def normalize_repo(text: str) -> str:
    """A repository URL without scheme, host case, trailing slash or ".git": one repo, one spelling."""
    value = text.strip().casefold()
    value = re.sub(r"^[a-z+]+://", "", value)
    value = value.removeprefix("www.")
    value = value.rstrip("/").removesuffix(".git")
    return value


def names_agree(recorded: str, candidates: Iterable[str]) -> bool:
    wanted = normalize_name(recorded)
    return bool(wanted) and any(wanted == normalize_name(c) for c in candidates if c)


# --------------------------------------------------------------------------- the operator's word

#: Sidecar key holding who vouched for the base, and when: {"by": ..., "at": ..., "base": ...}.
TRUST_KEY = "base_trusted"
MAX_TRUSTED_BY_CHARS = 64
_MAX_TRUST_FIELD_CHARS = 256


def default_truster() -> str:
    """The OS user from the environment (LOGNAME, USER, ...), as `--by` defaults to it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown user"


def check_trusted_by(name: str) -> str:
    """The name recorded as having vouched for a base: short, one line, printable."""
    value = name.strip()
    if not value or len(value) > MAX_TRUSTED_BY_CHARS or not value.isprintable():
        shown = value[:MAX_TRUSTED_BY_CHARS] + ("…" if len(value) > MAX_TRUSTED_BY_CHARS else "")
        raise ValidationError(
            f"--by {shown!r}: who vouched for the base must be 1 to {MAX_TRUSTED_BY_CHARS} printable "
            "characters on one line",
            hint="Pass --by with a short name such as your login, e.g. --by alice.",
        )
    return value


def parse_trust(raw: object, where: str) -> Trust | None:
    """The sidecar's trust record, checked; ValidationError naming the sidecar if it is malformed."""
    if raw is None:
        return None
    fix = (
        f'Fix "{TRUST_KEY}" in {where}: it must be {{"by": "alice", "at": "2026-03-10T12:00:00+00:00", '
        '"base": "base.gguf"}, or remove it and add the adapter again with --trust-base.'
    )
    if not isinstance(raw, Mapping):
        raise ValidationError(
            f'{where}: "{TRUST_KEY}" must be a JSON object, not {type(raw).__name__}', hint=fix
        )
    values: dict[str, str | None] = {}
    for key in ("by", "at", "base"):
        value = raw.get(key)
        if value is None and key == "base":
            values[key] = None
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TRUST_FIELD_CHARS:
            raise ValidationError(
                f'{where}: "{TRUST_KEY}.{key}" must be a non-empty string of at most '
                f"{_MAX_TRUST_FIELD_CHARS} characters",
                hint=fix,
            )
        values[key] = value.strip()
    by, at = values["by"], values["at"]
    assert by is not None and at is not None
    if len(by) > MAX_TRUSTED_BY_CHARS or not by.isprintable():
        raise ValidationError(f'{where}: "{TRUST_KEY}.by" is not a short one-line name', hint=fix)
    return Trust(by=by, at=at, base=values["base"])
