"""Which paths the config watcher follows: the links a path goes through to its file."""

from __future__ import annotations

from pathlib import Path

from slipway.app.watch import MAX_LINKS, links_to


def test_a_plain_file_is_its_own_chain(tmp_path: Path) -> None:
    (tmp_path / "slipway.yaml").write_text("x")
    assert links_to(tmp_path / "slipway.yaml") == {tmp_path / "slipway.yaml"}


def test_a_configmap_mount_chain_names_the_file_the_data_link_and_the_real_file(tmp_path: Path) -> None:
    (tmp_path / "..2026_12_06").mkdir()
    (tmp_path / "..2026_12_06" / "slipway.yaml").write_text("x")
    (tmp_path / "..data").symlink_to("..2026_12_06")
    (tmp_path / "slipway.yaml").symlink_to("..data/slipway.yaml")
    assert links_to(tmp_path / "slipway.yaml") == {
        tmp_path / "slipway.yaml",
        tmp_path / "..data",
        tmp_path / "..2026_12_06" / "slipway.yaml",
    }


def test_an_absolute_link_elsewhere_is_followed(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "routing.yaml").write_text("x")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "slipway.yaml").symlink_to(tmp_path / "srv" / "routing.yaml")
    assert links_to(tmp_path / "etc" / "slipway.yaml") == {
        tmp_path / "etc" / "slipway.yaml",
        tmp_path / "srv" / "routing.yaml",
    }


def test_a_loop_of_links_ends(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert len(links_to(tmp_path / "a")) <= MAX_LINKS + 1
