"""The simulator's profile: what a fake model answers, how well, how fast and how it fails.

A profile is YAML an operator writes for a drill ("the candidate is 6 points
worse on billing and twice as slow"), so every mistake in it is reported with
the file, the line, the field and the fix, like the routing config.

    model: support-classifier
    version: v2.2-sim
    default:
      labels: [billing, account, shipping, technical]
      accuracy: 0.95
      latency_ms: {dist: lognormal, p50: 180, p95: 420}
    categories:
      billing: {keywords: [refund, invoice], accuracy: 0.88}

A category section overrides the `default` section field by field; anything
neither sets falls back to the built-in defaults below (perfect, instant, one
token, no errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from slipway.core.config_yaml import _line_map
from slipway.core.errors import ConfigError


class DistKind(StrEnum):
    CONSTANT = "constant"
    NORMAL = "normal"
    LOGNORMAL = "lognormal"
    UNIFORM = "uniform"


_DIST_PARAMS: dict[DistKind, tuple[str, ...]] = {
    DistKind.CONSTANT: ("value",),
    DistKind.NORMAL: ("p50", "p95"),
    DistKind.LOGNORMAL: ("p50", "p95"),
    DistKind.UNIFORM: ("min", "max"),
}


class Dist(BaseModel):
    """A non-negative random quantity; a bare number means `{dist: constant, value: N}`.

    Normal and lognormal are given by p50 and p95 rather than mean and sd
    because those are the numbers canary thresholds talk about (p95 latency).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist: DistKind = DistKind.CONSTANT
    value: float | None = Field(None, ge=0)
    p50: float | None = Field(None, ge=0)
    p95: float | None = Field(None, ge=0)
    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, data: Any) -> Any:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"dist": "constant", "value": data}
        return data

    @model_validator(mode="after")
    def _params(self) -> Dist:
        needed = _DIST_PARAMS[self.dist]
        given = {name for name in ("value", "p50", "p95", "min", "max") if getattr(self, name) is not None}
        example = ", ".join(f"{name}: …" for name in needed)
        if missing := [name for name in needed if name not in given]:
            raise ValueError(
                f"dist {self.dist} needs {' and '.join(missing)}; write {{dist: {self.dist}, {example}}}"
            )
        if stray := sorted(given - set(needed)):
            raise ValueError(f"{', '.join(stray)} does not apply to dist {self.dist}, which takes {example}")
        if self.p50 is not None and self.p95 is not None:
            if self.p95 < self.p50:
                raise ValueError(f"p95 ({self.p95:g}) is below p50 ({self.p50:g}); swap them")
            if self.dist is DistKind.LOGNORMAL and self.p50 <= 0:
                raise ValueError("a lognormal needs p50 > 0; use dist: constant for zero")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max:g}) is below min ({self.min:g}); swap them")
        return self


class ErrorMode(StrEnum):
    """How an injected failure looks from the client's side."""

    HTTP_500 = "500"
    HTTP_503 = "503"
    HTTP_429 = "429"
    #: Accept the request and never answer (until `hang_s`, then 504).
    TIMEOUT = "timeout"
    #: Start the answer, then drop the connection halfway through the body.
    DISCONNECT = "disconnect_mid_stream"

    @property
    def status(self) -> int | None:
        return int(self.value) if self.value.isdigit() else None


class Section(BaseModel):
    """Behaviour of one category (or of `default`); unset fields are inherited."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] | None = Field(None, description="Every answer the model can give.")
    true_label: str | None = Field(None, description="The right answer; defaults to the category name.")
    accuracy: float | None = Field(None, ge=0, le=1, description="Probability the answer is the true label.")
    latency_ms: Dist | None = Field(None, description="Total response time (a floor, see behaviour.py).")
    ttft_ms: Dist | None = Field(None, description="Time to first token; defaults to what latency leaves.")
    stream_interval_ms: float | None = Field(None, ge=0, description="Pause between streamed tokens.")
    output_tokens: Dist | None = Field(None, description="Answer length: the label, then filler words.")
    error_rate: float | None = Field(None, ge=0, le=1, description="Probability a request fails.")
    error_mode: dict[ErrorMode, float] | None = Field(
        None, description="One mode, or modes with relative weights: {500: 3, timeout: 1}."
    )
    hang_s: float | None = Field(None, gt=0, description="How long a `timeout` failure hangs before a 504.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value or any(not label.strip() for label in value):
                raise ValueError("labels must be a non-empty list of non-empty strings")
            if len(set(value)) != len(value):
                raise ValueError("labels are listed twice; list each once")
        return value

    @field_validator("error_mode", mode="before")
    @classmethod
    def _one_mode(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return {str(value): 1.0}
        if isinstance(value, dict):
            return {str(mode): weight for mode, weight in value.items()}
        return value

    @field_validator("error_mode")
    @classmethod
    def _weights(cls, value: dict[ErrorMode, float] | None) -> dict[ErrorMode, float] | None:
        if value is not None and (not value or any(w <= 0 for w in value.values())):
            raise ValueError("error_mode weights must be positive numbers, e.g. {500: 3, timeout: 1}")
        return value


class CategorySection(Section):
    keywords: list[str] = Field(
        default_factory=list, description="Whole words or phrases that put a prompt in this category."
    )

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(word.lower().split()) for word in value]
        if any(not word for word in cleaned):
            raise ValueError("a keyword is empty; remove it")
        return cleaned


class PatternSection(Section):
    """Behaviour for inputs that match a regular expression, whatever their category (drills of
    "the candidate fails on inputs with code" or "on long conversations"): its fields override the
    category's, field by field; the true label stays the category's."""

    match: str = Field(description="Regular expression searched in the input text (case-insensitive).")

    @field_validator("match")
    @classmethod
    def _match(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        return value


BUILTIN = Section(
    accuracy=1.0,
    latency_ms=Dist(value=0),
    stream_interval_ms=0.0,
    output_tokens=Dist(value=1),
    error_rate=0.0,
    error_mode={ErrorMode.HTTP_500: 1.0},
    hang_s=600.0,
)


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """A category's behaviour with every field resolved; what `behaviour` consumes."""

    name: str
    labels: tuple[str, ...]
    true_label: str | None
    accuracy: float
    latency_ms: Dist
    ttft_ms: Dist | None
    stream_interval_ms: float
    output_tokens: Dist
    error_rate: float
    error_modes: tuple[tuple[ErrorMode, float], ...]
    hang_s: float


class SimProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="Model id served and listed by /v1/models.")
    version: str = Field("sim", min_length=1, description="Version string, shown as system_fingerprint.")
    seed: int | None = Field(None, description="Seed of the random generator; --seed overrides it.")
    default: Section = Field(default_factory=Section, description="Behaviour when no category matches.")
    categories: dict[str, CategorySection] = Field(default_factory=dict)
    patterns: list[PatternSection] = Field(
        default_factory=list, description="Overrides for inputs matching a regex; the first match wins."
    )

    def spec(self, name: str, pattern: int | None = None) -> CategorySpec:
        """Resolve a category (unknown names, and `default`, get the default section), under a pattern."""
        section = self.categories.get(name)
        layers: list[Section] = [self.default, BUILTIN]
        if section is not None:
            layers.insert(0, section)
        if pattern is not None:
            layers.insert(0, self.patterns[pattern].model_copy(update={"true_label": None, "labels": None}))

        def pick(field: str) -> Any:
            return next((v for layer in layers if (v := getattr(layer, field)) is not None), None)

        labels = tuple(pick("labels") or ())
        true_label: str | None
        if section is not None:
            true_label = section.true_label or name
        elif name in labels:
            true_label = name
        else:
            true_label = self.default.true_label
        modes: dict[ErrorMode, float] = pick("error_mode")
        total = sum(modes.values())
        return CategorySpec(
            name=name,
            labels=labels,
            true_label=true_label,
            accuracy=pick("accuracy"),
            latency_ms=pick("latency_ms"),
            ttft_ms=pick("ttft_ms"),
            stream_interval_ms=pick("stream_interval_ms"),
            output_tokens=pick("output_tokens"),
            error_rate=pick("error_rate"),
            error_modes=tuple((mode, w / total) for mode, w in modes.items()),
            hang_s=pick("hang_s"),
        )


def _check(profile: SimProfile) -> tuple[str, str, str] | None:
    """Cross-field rules pydantic cannot see: (field path, problem, fix), or None when sound."""
    if "default" in profile.categories:
        return ("categories.default", "'default' is not a category", "move it to the top-level default:")
    owner: dict[str, str] = {}
    for name, section in profile.categories.items():
        for word in section.keywords:
            if owner.setdefault(word, name) != name:
                return (
                    f"categories.{name}.keywords",
                    f"keyword {word!r} is also listed under {owner[word]}",
                    "keep each keyword in one category",
                )
    for name in ["default", *profile.categories]:
        spec = profile.spec(name)
        path = "default" if name == "default" else f"categories.{name}"
        if not spec.labels:
            return (f"{path}.labels", "no labels", "set default.labels (the answers the model gives)")
        if spec.true_label is not None and spec.true_label not in spec.labels:
            return (
                f"{path}.true_label",
                f"true label {spec.true_label!r} is not among labels {list(spec.labels)}",
                "add it to labels, or set true_label to one of them",
            )
        if spec.accuracy < 1 and len(spec.labels) < 2:
            return (
                f"{path}.accuracy",
                "accuracy below 1 needs a second label to be wrong with",
                "add labels",
            )
    return None


_DIST_FIELDS = {"latency_ms", "ttft_ms", "output_tokens"}


def _fields_of(loc: tuple[str, ...]) -> str:
    if len(loc) >= 2 and loc[-2] in _DIST_FIELDS:
        model: type[BaseModel] = Dist
    elif len(loc) == 1:
        model = SimProfile
    else:
        model = CategorySection if loc[0] == "categories" else Section
    return ", ".join(model.model_fields)


def _line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def parse_profile(text: str, source: str = "<profile>") -> SimProfile:
    """Parse and validate profile YAML; every error names the source, line and field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
            hint="fix the syntax",
            source=source,
            line=mark.line + 1 if mark is not None else None,
        ) from exc
    if not isinstance(raw, dict):
        found = "nothing" if raw is None else type(raw).__name__
        raise ConfigError(
            f"a profile is a mapping, found {found}",
            hint="start with `model: my-model` and a `default:` section",
            source=source,
            line=1,
        )
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _line_map(node, (), lines)
    try:
        profile = SimProfile.model_validate(raw)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(part) for part in err["loc"] if part != "[key]")
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message, hint = f"unknown field {loc[-1]!r}", f"the fields here are: {_fields_of(loc)}"
        elif err["type"] == "missing":
            under = f" under {'.'.join(loc[:-1])}" if len(loc) > 1 else " at the top level"
            message, hint = "required field is missing", f"add `{loc[-1]}: …`{under}"
        else:
            hint = "see the module docstring of slipway.backends.sim.profile for the schema"
        raise ConfigError(
            message, hint=hint, source=source, line=_line_of(lines, loc), field=".".join(loc) or None
        ) from exc
    problem = _check(profile)
    if problem:
        field, message, hint = problem
        path = tuple(field.split("."))
        raise ConfigError(message, hint=hint, source=source, line=_line_of(lines, path), field=field)
    return profile


def load_profile(path: str | Path) -> SimProfile:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the profile: {exc.strerror or exc}",
            hint="check the path; examples/sim/support-classifier.yaml is a starting point",
            source=str(file),
        ) from exc
    return parse_profile(text, source=str(file))
