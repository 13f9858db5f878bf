"""Adding the tiny model's real adapters to a registry: validated first, never replacing a version."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from slipway.core.errors import AdapterMismatchError, BaseUnknownError, GGUFError, VersionExistsError
from slipway.demo.tiny_model import TinyModelPaths
from slipway.registry.catalog import Catalog, file_sha256

MODEL = "customer-support"
NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_listing_the_built_tree_matches_adapters_to_bases(tiny: TinyModelPaths) -> None:
    catalog = Catalog(tiny.root)
    assert catalog.model_names() == ["customer-support", "other-support"]
    support = catalog.model(MODEL)
    assert [a.version for a in support.adapters] == ["v2.1", "v2.2", "v2.3"]
    assert support.base_fingerprints() == {tiny.base: tiny.base_fingerprint}
    for entry in support.adapters:
        meta = entry.metadata()
        assert support.matching_bases(meta) == [tiny.base]
        assert entry.name is not None and meta.training_examples == entry.name.examples
    foreign = catalog.model("other-support").adapters[0]
    assert support.matching_bases(foreign.metadata()) == []
    assert catalog.model("other-support").matching_bases(foreign.metadata()) == [tiny.other_base]


def test_add_copies_atomically_and_records_where_it_came_from(tiny: TinyModelPaths, registry: Path) -> None:
    catalog = Catalog(registry)
    plan = catalog.plan_add(tiny.v2_1, MODEL, notes="balanced data")
    assert plan.ok and plan.target == registry / MODEL / "adapters" / tiny.v2_1.name
    assert not plan.target.exists()  # planning writes nothing
    entry = catalog.commit_add(plan, now=NOW)
    assert entry.path.read_bytes() == tiny.v2_1.read_bytes()
    sidecar = json.loads(entry.path.with_suffix(".json").read_text())
    assert sidecar == {
        "added_at": "2026-03-01T09:30:00+00:00",
        "notes": "balanced data",
        "sha256": file_sha256(tiny.v2_1),
        "source": str(tiny.v2_1.resolve()),
        "validated_against": "tiny-support-base.gguf",
        "version": "v2.1",
    }
    meta = entry.metadata()
    assert meta.notes == "balanced data" and meta.sha256 == file_sha256(tiny.v2_1)
    # nothing but the version, its sidecar and the add lock
    assert sorted(p.name for p in entry.path.parent.iterdir()) == [
        ".slipway-add.lock",
        "v2.1-2026-01-15-1247examples.gguf",
        "v2.1-2026-01-15-1247examples.json",
    ]


def test_versions_are_never_replaced(tiny: TinyModelPaths, registry: Path, tmp_path: Path) -> None:
    catalog = Catalog(registry)
    catalog.add_adapter(tiny.v2_1, MODEL)
    catalog.add_adapter(tiny.v2_2, MODEL)
    adapters = registry / MODEL / "adapters"
    before = files_in(adapters)
    # the same version again, other bytes, under the same name
    impostor = tmp_path / tiny.v2_1.name
    shutil.copy(tiny.v2_2, impostor)
    with pytest.raises(VersionExistsError, match=r"already has version v2\.1"):
        catalog.add_adapter(impostor, MODEL)
    with pytest.raises(VersionExistsError):
        catalog.add_adapter(tiny.v2_2, MODEL, version="v2.2", date=dt.date(2026, 3, 1))
    assert files_in(adapters) == before
    assert [a.version for a in catalog.model(MODEL).adapters] == ["v2.1", "v2.2"]


def test_a_wrong_base_adapter_is_refused_and_nothing_is_written(tiny: TinyModelPaths, registry: Path) -> None:
    catalog = Catalog(registry)
    plan = catalog.plan_add(tiny.wrong_base_adapter, MODEL)
    assert not plan.ok
    assert [c.name for c in plan.report.failures] == ["base-identity"]
    with pytest.raises(AdapterMismatchError):
        catalog.commit_add(plan)
    assert not (registry / MODEL / "adapters").exists() or files_in(registry / MODEL / "adapters") == {}
    # on its own base it is welcome
    entry = catalog.add_adapter(tiny.wrong_base_adapter, "other-support")
    assert entry.version == "v1.0"


def test_a_damaged_copy_is_refused(tiny: TinyModelPaths, registry: Path, variants: dict[str, Path]) -> None:
    with pytest.raises(GGUFError, match="truncated"):
        Catalog(registry).add_adapter(variants["truncated-tail"], MODEL)
    assert Catalog(registry).model(MODEL).adapters == ()


def test_a_file_with_any_name_gets_the_conventional_one(
    tiny: TinyModelPaths, registry: Path, tmp_path: Path
) -> None:
    source = tmp_path / "final-adapter (2).gguf"
    shutil.copy(tiny.v2_2, source)
    plan = Catalog(registry).plan_add(source, MODEL, version="v2.3")
    # date and examples come from the adapter's own metadata
    assert plan.target.name == "v2.3-2026-02-12-1891examples.gguf"
    assert plan.notes == ("the adapter's own metadata says version v2.2",)
    entry = Catalog(registry).commit_add(plan)
    assert entry.version == "v2.3"


def test_trust_base_records_the_fingerprint_only_when_none_is_recorded(
    tiny: TinyModelPaths, registry: Path, variants: dict[str, Path]
) -> None:
    catalog = Catalog(registry)
    unmarked = variants["no-fingerprint"]
    unknown = catalog.plan_add(unmarked, MODEL)
    assert not unknown.ok and unknown.report.ok  # a warning, and add refuses it
    with pytest.raises(BaseUnknownError):
        catalog.commit_add(unknown)
    now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    plan = catalog.plan_add(unmarked, MODEL, trust_base=True, trusted_by="alice", now=now)
    assert plan.ok and any("--trust-base" in n and "alice" in n for n in plan.notes)
    entry = catalog.commit_add(plan)
    sidecar = json.loads(entry.path.with_suffix(".json").read_text())
    assert sidecar["base_fingerprint"] == tiny.base_fingerprint
    assert sidecar["base_trusted"] == {
        "by": "alice",
        "at": "2026-03-10T12:00:00+00:00",
        "base": tiny.base.name,
    }
    [identity] = catalog.model(MODEL).identities(entry).values()
    assert identity.verified and identity.trust is not None and identity.trust.by == "alice"
    # it never overrides a fingerprint that says "another base"
    assert not catalog.plan_add(tiny.wrong_base_adapter, MODEL, trust_base=True).ok
