"""The one error tree of slipway.

Every message says what was wrong and what to do about it; foreign exceptions
(HTTP clients, databases, YAML parsers) are translated into these at the edge,
so nothing above the adapters ever sees a raw library exception.

    SlipwayError
    ├── ConfigError                  bad YAML, unknown field, bad value (names line and field)
    ├── StoreError                   the database failed or is at the wrong schema
    │   ├── ConflictError            optimistic concurrency lost (someone else changed it first)
    │   │   └── NotLeaderError       a former leader's write, refused: another replica leads now
    │   ├── StoreUnavailable         could not reach the database, or it stayed busy: retry later
    │   └── StoreRefusedData         the database refused the values written (too long, out of range)
    ├── NotFoundError                an id, slot or version that does not exist
    ├── BackendError                 an inference server misbehaved
    │   ├── BackendUnavailable       refused connection / DNS / reset before a response
    │   ├── BackendTimeout           connect or read timeout
    │   └── UpstreamStatusError      the server answered with an error status
    ├── TransitionError              an illegal state change (e.g. deploy into the active slot)
    ├── SmokeTestFailed              a deploy's smoke test did not pass; carries the report
    ├── ValidationError              an artefact or request failed validation
    │   └── FileCheckError           a file failed a named check (file, check, found, expected)
    │       ├── GGUFError            not a valid GGUF: bad magic or version, corrupt, truncated
    │       ├── AdapterInvalid       a valid GGUF but not a usable LoRA adapter (type, pairs, loading)
    │       ├── AdapterMismatchError the adapter does not fit the base (architecture, shapes, base identity)
    │       ├── BaseUnknownError     the adapter records nothing that shows which base it was trained for
    │       └── AdapterNameError     the file name is not vX.Y-YYYY-MM-DD-<N>examples.gguf
    └── RegistryError                the model/adapter registry on disk refused a change
        └── VersionExistsError       that adapter version is already registered (versions are kept)
"""

from __future__ import annotations


class SlipwayError(Exception):
    """Base of every error slipway raises on purpose."""

    #: A short machine-readable code, used in API error bodies.
    code: str = "slipway_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        if hint:
            sep = " " if message.endswith((".", ":", "?", "!")) else ". "
            super().__init__(f"{message}{sep}{hint}")
        else:
            super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return body


class ConfigError(SlipwayError):
    code = "config_error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        where = ""
        if source:
            where = source
            if line is not None:
                where += f":{line}"
            where += ": "
        elif line is not None:
            where = f"line {line}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message, hint=hint)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body.update({"source": self.source, "line": self.line, "field": self.field})
        return body


class StoreError(SlipwayError):
    code = "store_error"


class ConflictError(StoreError):
    code = "conflict"


class NotLeaderError(ConflictError):
    code = "not_leader"

    """A leader's change was refused: another replica took office since it was elected.

    Raised inside the write transaction that carried the change, so nothing of
    it was committed. The replica must stop acting as the leader (its lease
    will notice too) and leave the change to the new one.
    """

    def __init__(self, epoch: int, current: int) -> None:
        self.epoch = epoch
        self.current = current
        super().__init__(
            f"this replica is no longer the leader (epoch {epoch}, now {current}): its change was refused",
            hint="Another replica leads now and carries on from the stored state; nothing needs doing.",
        )


class SuiteChanged(ConflictError):
    """Another writer added a version of the suite after this one read it: nothing was saved.

    A new version is built from the one before it (regression cases are
    appended to it); saving on top of a version the builder never saw would
    drop that writer's cases. Read the suite again and rebuild.
    """

    code = "suite_changed"

    def __init__(self, name: str, based_on: int, latest: int | None) -> None:
        self.name = name
        self.based_on = based_on
        self.latest = latest
        now = f"version {latest}" if latest else "a version another writer just added"
        super().__init__(
            f"suite {name!r} changed while this change was prepared (it started from version "
            f"{based_on}, the suite is now at {now}): nothing was saved",
            hint="Run the command again: it starts from the latest version.",
        )


class StoreUnavailable(StoreError):
    """The same write may well succeed later: whoever holds the data should keep it and retry.

    Same API code as any store failure (`store_error`): clients act on it the same way.
    """


class StoreRefusedData(StoreError):
    """Retrying the same values fails the same way: the data has to change, or be given up."""


class NotFoundError(SlipwayError):
    code = "not_found"


class BackendError(SlipwayError):
    code = "backend_error"

    def __init__(self, message: str, *, hint: str | None = None, slot: str | None = None) -> None:
        self.slot = slot
        super().__init__(message, hint=hint)


class BackendUnavailable(BackendError):
    code = "backend_unavailable"


class BackendTimeout(BackendError):
    code = "backend_timeout"


class UpstreamStatusError(BackendError):
    code = "upstream_status"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes = b"",
        hint: str | None = None,
        slot: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        super().__init__(message, hint=hint, slot=slot)


class TransitionError(SlipwayError):
    code = "illegal_transition"


class SmokeTestFailed(SlipwayError):
    code = "smoke_test_failed"

    def __init__(self, message: str, *, report: dict[str, object], hint: str | None = None) -> None:
        self.report = report
        super().__init__(message, hint=hint)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["report"] = self.report
        return body


class ChecklistFailed(SlipwayError):
    """A deploy refused by its pre-deployment checklist: the record says which items failed and their fix."""

    code = "checklist_failed"

    def __init__(self, message: str, *, checklist: dict[str, object], hint: str | None = None) -> None:
        self.checklist = checklist
        super().__init__(message, hint=hint)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["checklist"] = self.checklist
        return body


class ValidationError(SlipwayError):
    code = "validation_error"


class FileCheckError(ValidationError):
    """A file failed one named check; the message names the file, the check, found and expected."""

    code = "file_check_failed"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        check: str | None = None,
        found: str | None = None,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        #: the message alone, without file, check, found and expected.
        self.reason = message
        self.path = path
        self.check = check
        self.found = found
        self.expected = expected
        text = message
        if found is not None or expected is not None:
            text += f" (found: {found if found is not None else '-'}; expected: {expected or '-'})"
        if check:
            text = f"check '{check}' failed: {text}"
        if path:
            text = f"{path}: {text}"
        super().__init__(text, hint=hint)

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body.update({"path": self.path, "check": self.check, "found": self.found, "expected": self.expected})
        return body


class GGUFError(FileCheckError):
    code = "gguf_error"


class AdapterInvalid(FileCheckError):
    code = "adapter_invalid"


class AdapterMismatchError(FileCheckError):
    code = "adapter_mismatch"


class BaseUnknownError(FileCheckError):
    """Not known to be wrong, only unchecked: refused where a wrong base would reach users (add, deploy)."""

    code = "base_unknown"


class AdapterNameError(FileCheckError):
    code = "adapter_name"


class RegistryError(SlipwayError):
    code = "registry_error"


class VersionExistsError(RegistryError):
    code = "version_exists"
