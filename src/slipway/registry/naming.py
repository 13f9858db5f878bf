"""Adapter names: files `v2.1-2026-01-15-1247examples.gguf`, PEFT directories `v2.1-2026-01-15-1247examples/`.

The name says which version, when it was trained and on how many examples,
so a directory listing is already a version history. `parse_adapter_name`
reads one; `format_adapter_name` writes one; versions sort numerically
(v2.10 after v2.9), then by date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from slipway.core.errors import AdapterNameError

EXPECTED_FORM = "v<MAJOR>[.<MINOR>...]-<YYYY-MM-DD>-<N>examples.gguf"
EXAMPLE_NAME = "v2.1-2026-01-15-1247examples.gguf"
SUFFIX = ".gguf"

#: v2, v2.1, v2.1.3, optionally a lowercase tag (v2.2rc1); never '-', ',' or ':'
#: (the first separates fields, the others break llama-server's --lora-scaled).
_VERSION = r"v(?P<numbers>\d+(?:\.\d+)*)(?P<tag>[a-z][a-z0-9]*)?"
_VERSION_RE = re.compile(rf"^{_VERSION}$")
_NAME_RE = re.compile(
    rf"^(?P<version>{_VERSION})-(?P<date>\d{{4}}-\d{{2}}-\d{{2}})-(?P<examples>\d+)examples\.gguf$"
)


@dataclass(frozen=True, order=False)
class AdapterName:
    """The three facts in an adapter's file name."""

    version: str
    date: dt.date
    examples: int

    @property
    def file_name(self) -> str:
        return format_adapter_name(self.version, self.date, self.examples)

    @property
    def dir_name(self) -> str:
        """The name of a PEFT adapter directory: the file name without `.gguf`."""
        return self.file_name.removesuffix(SUFFIX)

    @property
    def sort_key(self) -> tuple[tuple[int, ...], str, dt.date, int]:
        return (*version_key(self.version), self.date, self.examples)


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Numeric order: v2.9 < v2.10 < v10; a tagged v2.2rc1 sorts before v2.2."""
    match = _VERSION_RE.match(version)
    if match is None:
        return ((), version)
    numbers = tuple(int(n) for n in match.group("numbers").split("."))
    # "~" sorts after every lowercase tag, so the untagged release comes last.
    return (numbers, match.group("tag") or "~")


def check_version(version: str) -> str:
    """`version` if it is a valid version label, else AdapterNameError."""
    if _VERSION_RE.match(version) is None:
        raise AdapterNameError(
            "not a version label",
            check="version",
            found=repr(version),
            expected="v<MAJOR>[.<MINOR>...] such as v2.1, v3 or v2.2rc1",
            hint="Use a 'v' followed by dot-separated numbers; no '-', ',' or ':'.",
        )
    return version


def parse_adapter_name(file_name: str) -> AdapterName:
    """Parse a bare file name; AdapterNameError says which part is wrong and the expected form."""
    match = _NAME_RE.match(file_name)
    if match is None:
        raise AdapterNameError(
            f"the file name does not say version, date and training examples: {_what_is_wrong(file_name)}",
            path=file_name,
            check="file-name",
            found=repr(file_name),
            expected=f"{EXPECTED_FORM}, e.g. {EXAMPLE_NAME}",
            hint="Rename the file, or give the missing parts to `slipway adapters add` "
            "(--version, --date, --examples) and it is stored under the right name.",
        )
    try:
        trained = dt.date.fromisoformat(match.group("date"))
    except ValueError:
        raise AdapterNameError(
            "the date is not a real calendar date",
            path=file_name,
            check="file-name",
            found=match.group("date"),
            expected="YYYY-MM-DD, a real date",
            hint="Fix the date in the file name.",
        ) from None
    examples = int(match.group("examples"))
    return AdapterName(version=match.group("version"), date=trained, examples=examples)


def parse_adapter_dir_name(dir_name: str) -> AdapterName:
    """Parse a PEFT adapter directory's name: the GGUF form without the suffix."""
    if dir_name.endswith(SUFFIX):
        raise AdapterNameError(
            "a PEFT adapter directory's name does not end in .gguf",
            path=dir_name,
            check="file-name",
            found=repr(dir_name),
            expected=f"{EXPECTED_FORM.removesuffix(SUFFIX)}, e.g. {EXAMPLE_NAME.removesuffix(SUFFIX)}",
            hint="Rename the directory, or give --version, --date and --examples to `slipway adapters add`.",
        )
    try:
        return parse_adapter_name(dir_name + SUFFIX)
    except AdapterNameError as exc:
        raise AdapterNameError(
            exc.reason,
            path=dir_name,
            check="file-name",
            found=repr(dir_name),
            expected=f"{EXPECTED_FORM.removesuffix(SUFFIX)}, e.g. {EXAMPLE_NAME.removesuffix(SUFFIX)}",
            hint="Rename the directory, or give --version, --date and --examples to `slipway adapters add`.",
        ) from None


def format_adapter_name(version: str, trained: dt.date, examples: int) -> str:
    check_version(version)
    if examples < 0:
        raise AdapterNameError(
            "the number of training examples cannot be negative",
            check="examples",
            found=str(examples),
            expected="0 or more",
        )
    return f"{version}-{trained.isoformat()}-{examples}examples{SUFFIX}"


def _what_is_wrong(name: str) -> str:
    """A short diagnosis for the common mistakes, so the message says what to fix."""
    if not name.endswith(SUFFIX):
        return f"it does not end in {SUFFIX}"
    stem = name[: -len(SUFFIX)]
    parts = stem.split("-")
    if not re.match(rf"^{_VERSION}$", parts[0]):
        return f"it does not start with a version label like v2.1 (starts with {parts[0]!r})"
    if len(parts) < 5:
        return "after the version it needs a date (YYYY-MM-DD) and '<N>examples'"
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", "-".join(parts[1:4])):
        return f"{'-'.join(parts[1:4])!r} is not a date in YYYY-MM-DD form"
    tail = "-".join(parts[4:])
    if not re.match(r"^\d+examples$", tail):
        return f"{tail!r} is not '<N>examples' (a whole number, then 'examples')"
    return "it has extra or misplaced parts"
