"""The registry layout on disk: models, bases, versions in order, disk use; add never replaces a version."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from slipway.core.errors import AdapterNameError, NotFoundError, VersionExistsError
from slipway.registry.catalog import MODELS_DIR_ENV, Catalog, default_models_dir, disk_usage

NAMES = [
    "v2.10-2026-04-01-3000examples.gguf",
    "v2.1-2026-01-15-1247examples.gguf",
    "v2.2-2026-02-12-1891examples.gguf",
    "v2.2rc1-2026-02-01-1700examples.gguf",
    "my-experiment.gguf",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    support = tmp_path / "models" / "customer-support"
    (support / "base").mkdir(parents=True)
    (support / "base" / "tiny-support-base.gguf").write_bytes(b"B" * 5000)
    (support / "adapters").mkdir()
    for i, name in enumerate(NAMES):
        (support / "adapters" / name).write_bytes(b"A" * (100 * (i + 1)))
    (support / "adapters" / "v2.1-2026-01-15-1247examples.json").write_text('{"notes": "good"}')
    # leftovers that are not versions: a partial copy, a lock, notes
    (support / "adapters" / ".v2.3-2026-05-01-1examples.gguf.abc.partial").write_bytes(b"x" * 10)
    (support / "adapters" / ".slipway-add.lock").write_text("")
    (support / "adapters" / "README.txt").write_text("notes")
    other = tmp_path / "models" / "other-support"
    (other / "base").mkdir(parents=True)
    (other / "base" / "tiny-other-base.gguf").write_bytes(b"O" * 10)
    (tmp_path / "models" / "scratch").mkdir()  # neither base/ nor adapters/: not a model
    (tmp_path / "models" / ".cache" / "base").mkdir(parents=True)
    return tmp_path / "models"


def test_lists_models_with_bases_and_versions_in_version_order(root: Path) -> None:
    catalog = Catalog(root)
    assert catalog.model_names() == ["customer-support", "other-support"]
    model = catalog.model("customer-support")
    assert [b.path.name for b in model.bases] == ["tiny-support-base.gguf"]
    assert [a.version for a in model.adapters] == ["v2.1", "v2.2rc1", "v2.2", "v2.10", "my-experiment"]
    v21 = model.adapter("v2.1")
    assert v21.name is not None and v21.name.date == dt.date(2026, 1, 15) and v21.name.examples == 1247
    assert v21.size == 200
    assert v21.sidecar == root / "customer-support" / "adapters" / "v2.1-2026-01-15-1247examples.json"
    odd = model.adapter("my-experiment")
    assert odd.name is None and odd.name_error is not None
    assert model.adapter("v2.2-2026-02-12-1891examples.gguf").version == "v2.2"


def test_sizes_and_disk_use(root: Path) -> None:
    catalog = Catalog(root)
    model = catalog.model("customer-support")
    assert model.size == 5000 + sum(100 * (i + 1) for i in range(len(NAMES)))
    # disk use counts allocated blocks (and the sidecar), so it is at least the sizes... roughly
    assert model.disk == sum(b.disk for b in model.bases) + sum(a.disk for a in model.adapters)
    v21 = model.adapter("v2.1")
    sidecar = root / "customer-support" / "adapters" / "v2.1-2026-01-15-1247examples.json"
    assert v21.disk == disk_usage(v21.path) + disk_usage(sidecar)
    assert catalog.disk() == model.disk + catalog.model("other-support").disk


def test_unknown_model_or_version_says_what_exists(root: Path) -> None:
    catalog = Catalog(root)
    with pytest.raises(NotFoundError, match="customer-support, other-support") as caught:
        catalog.model("billing")
    assert caught.value.hint and "--models-dir" in caught.value.hint
    with pytest.raises(NotFoundError, match=r"versions: v2\.1, v2\.2rc1, v2\.2, v2\.10, my-experiment"):
        catalog.model("customer-support").adapter("v9")


def test_base_choice(root: Path) -> None:
    model = Catalog(root).model("customer-support")
    assert model.base().path.name == "tiny-support-base.gguf"
    assert model.base("tiny-support-base.gguf") is model.bases[0]
    (root / "customer-support" / "base" / "tiny-support-base-v2.gguf").write_bytes(b"C")
    model = Catalog(root).model("customer-support")
    with pytest.raises(NotFoundError, match="has 2 bases") as caught:
        model.base()
    assert caught.value.hint and "--base" in caught.value.hint
    with pytest.raises(NotFoundError, match=r"no base 'nope\.gguf'"):
        model.base("nope.gguf")


def test_a_missing_root_is_empty_not_an_error(tmp_path: Path) -> None:
    assert Catalog(tmp_path / "nowhere").models() == []


def test_default_models_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    assert default_models_dir() == Path("models")
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    assert default_models_dir() == tmp_path
    assert Catalog().root == tmp_path


@pytest.mark.parametrize(
    ("file_name", "version"),
    [
        ("v2.2-2026-03-01-10examples.gguf", None),  # same version, another date
        ("anything.gguf", "v2.2"),  # named by option
        ("v2.01-2026-03-01-10examples.gguf", None),  # numerically the same as v2.1
    ],
)
def test_add_refuses_an_existing_version_before_reading_the_file(
    root: Path, tmp_path: Path, file_name: str, version: str | None
) -> None:
    source = tmp_path / file_name
    source.write_bytes(b"not even a gguf")
    before = {p.name: p.read_bytes() for p in (root / "customer-support" / "adapters").iterdir()}
    with pytest.raises(VersionExistsError) as caught:
        Catalog(root).plan_add(
            source, "customer-support", version=version, date=dt.date(2026, 3, 1), examples=10
        )
    assert "never replaced" in caught.value.message
    assert caught.value.hint and "--version" in caught.value.hint
    after = {p.name: p.read_bytes() for p in (root / "customer-support" / "adapters").iterdir()}
    assert after == before


def test_add_needs_a_name_it_can_build(root: Path, tmp_path: Path) -> None:
    source = tmp_path / "adapter.gguf"
    source.write_bytes(b"GGUF")
    with pytest.raises(AdapterNameError) as caught:
        Catalog(root).plan_add(source, "customer-support", version="v3")
    error = caught.value
    assert error.check == "file-name"
    assert "date / examples" in error.reason
    assert error.hint == "Pass --date ... --examples ... to `slipway adapters add`."


def test_add_needs_the_model_and_the_file(root: Path, tmp_path: Path) -> None:
    catalog = Catalog(root)
    with pytest.raises(NotFoundError, match="no model 'billing'"):
        catalog.plan_add(tmp_path / "x.gguf", "billing")
    with pytest.raises(NotFoundError, match="no such file"):
        catalog.plan_add(tmp_path / "x.gguf", "customer-support")
    os.remove(root / "other-support" / "base" / "tiny-other-base.gguf")
    source = tmp_path / "v1.0-2026-01-01-1examples.gguf"
    source.write_bytes(b"GGUF")
    with pytest.raises(NotFoundError, match="has no base model"):
        catalog.plan_add(source, "other-support")
