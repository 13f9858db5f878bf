"""Evaluation suites as an operator uses them: `slipway eval` against a real `slipway serve` and sim servers.

Blue serves v2.1, right on every case; green serves v2.2, which answers every
billing question wrong: the suite, paired against production, must fail green
on billing and only there, store the run, and say so in words, JSON and HTML.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import ServeProcess, run_cli, slipway_serve

#: The whole `categories:` map (a second one replaces the profile's): billing always wrong.
BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.0}
  shipping: {keywords: [parcel, delivery]}
"""


def cases(n: int = 12) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        out.append(
            {
                "id": f"billing-{i}",
                "prompt": f"refund question {i}",
                "expect": {"label": "billing"},
                "category": "billing",
            }
        )
        out.append(
            {
                "id": f"shipping-{i}",
                "prompt": f"parcel question {i}",
                "expect": {"label": "shipping"},
                "category": "shipping",
            }
        )
    return out


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2", extra=BAD_BILLING), seed=1) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as proc:
            yield proc


def cli(served: ServeProcess, *args: str) -> tuple[int, str, str]:
    out = run_cli(served.url, list(args))
    return out.returncode, out.stdout, out.stderr


def test_a_suite_paired_against_production_fails_the_candidate_on_billing_only(
    served: ServeProcess, tmp_path: Path
) -> None:
    suite = write_jsonl(tmp_path / "support.jsonl", cases())
    code, out, err = cli(served, "eval", "add", "support", str(suite), "--note", "first cut")
    assert code == 0, err
    assert "suite support version 1: 24 cases" in out

    code, out, err = cli(served, "eval", "run", "support", "--slot", "green", "--against", "blue")

    assert code == 1, out + err
    assert "suite support FAILED: 12/24 cases right (production 24/24)" in out
    assert "billing: 0 of 12 right against 12 of 12 on production" in out
    assert "shipping:" not in out

    code, out, _ = cli(served, "eval", "run", "support", "--slot", "green", "--against", "blue", "--json")
    run = json.loads(out)["runs"][0]
    categories = run["result"]["categories"]
    assert categories["billing"]["significant"] and categories["billing"]["worse_by_points"] == 100
    assert not categories["shipping"]["significant"] and categories["shipping"]["worse_by_points"] == 0
    assert (run["slot_version"], run["against_version"]) == ("customer-support-v2.2", "customer-support-v2.1")
    failing = [c for c in run["result"]["cases"] if not c["candidate_passed"]]
    assert {c["category"] for c in failing} == {"billing"} and all(c["baseline_passed"] for c in failing)

    code, out, _ = cli(served, "eval", "runs", "--suite", "support", "--json")
    assert code == 0 and [r["passed"] for r in json.loads(out)] == [False, False]


def test_production_against_the_broken_candidate_passes_and_so_does_it_alone(
    served: ServeProcess, tmp_path: Path
) -> None:
    cli(served, "eval", "add", "support", str(write_jsonl(tmp_path / "s.jsonl", cases())))

    better, out, err = cli(served, "eval", "run", "support", "--slot", "blue", "--against", "green")
    alone, out_alone, _ = cli(served, "eval", "run", "--slot", "green")

    assert better == 0, out + err
    assert "suite support passed: 24/24 cases right (production 12/24)" in out
    assert alone == 0, "alone, with no hard case and no minimum accuracy, nothing can fail"
    assert "suite support passed: 12/24 cases right" in out_alone


def test_hard_cases_must_pass_and_a_new_version_keeps_the_rule(served: ServeProcess, tmp_path: Path) -> None:
    cli(
        served, "eval", "add", "support", str(write_jsonl(tmp_path / "v1.jsonl", cases())), "--max-drop", "10"
    )
    hard = {
        "id": "billing-hard",
        "prompt": "invoice wrong twice",
        "expect": {"label": "billing"},
        "category": "billing",
        "origin": "rollback of v2.2 (dep-7)",
        "must_pass": True,
    }
    code, out, err = cli(
        served, "eval", "add", "support", str(write_jsonl(tmp_path / "v2.jsonl", [*cases(1), hard]))
    )
    assert code == 0, err
    assert "version 2: 3 cases (1 hard), allows a drop of 10 points" in out

    code, out, _ = cli(served, "eval", "run", "support", "--slot", "green")

    assert code == 1
    assert "hard case billing-hard (billing) failed: expected label 'billing'" in out
    code, out, _ = cli(served, "eval", "list", "--json")
    assert [(s["name"], s["version"], s["must_pass"]) for s in json.loads(out)] == [("support", 2, 1)]


def test_a_bad_suite_file_names_its_line_and_stores_nothing(served: ServeProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(cases(1)[0]) + "\n\n" + '{"id": "x", "prompt": "p", "must_pass": "yes"}\n')

    code, out, err = cli(served, "eval", "add", "support", str(bad))

    assert code != 0
    assert "bad.jsonl:3: must_pass: must be true or false" in err
    code, out, _ = cli(served, "eval", "list", "--json")
    assert json.loads(out) == []


def test_unknown_suites_and_slots_are_refused_with_the_fix(served: ServeProcess, tmp_path: Path) -> None:
    code, _, err = cli(served, "eval", "run", "nope", "--slot", "green")
    assert code != 0 and "no evaluation suite named 'nope'" in err and "slipway eval add" in err

    cli(served, "eval", "add", "support", str(write_jsonl(tmp_path / "s.jsonl", cases(1))))
    code, _, err = cli(served, "eval", "run", "support", "--slot", "purple")
    assert code != 0 and "no slot named 'purple'" in err and "blue, green" in err
    code, _, err = cli(served, "eval", "run", "support", "--slot", "green", "--against", "green")
    assert code != 0 and "against itself" in err


def test_the_html_report_is_one_page_with_user_text_escaped(served: ServeProcess, tmp_path: Path) -> None:
    hostile: dict[str, object] = {
        "id": "<script>alert(1)</script>",
        "prompt": "refund <img src=x>",
        "expect": {"label": "billing"},
        "category": "<b>billing</b>",
    }
    cli(served, "eval", "add", "support", str(write_jsonl(tmp_path / "s.jsonl", [*cases(12), hostile])))
    page = tmp_path / "report.html"

    code, _, err = cli(
        served, "eval", "run", "support", "--slot", "green", "--against", "blue", "--html", str(page)
    )

    assert code == 1, err
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "FAILED" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>billing</b>" not in html and "&lt;b&gt;billing&lt;/b&gt;" in html
    assert "http" not in html.replace("http-equiv", ""), "the page points nowhere"


def test_a_suite_file_runs_as_is_and_becomes_a_new_version_only_when_it_changed(
    served: ServeProcess, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "billing.jsonl", cases(2))

    first = run_cli(served.url, ["eval", "run", str(path), "--slot", "blue", "--json"])
    again = run_cli(served.url, ["eval", "run", str(path), "--slot", "blue", "--json"])
    write_jsonl(path, cases(3))
    changed = run_cli(served.url, ["eval", "run", str(path), "--slot", "blue", "--json"])

    assert first.returncode == 0, first.stderr
    assert "suite billing version 1 (4 cases)" in first.stderr
    assert "suite billing version 1 (4 cases)" in again.stderr, "the same file is the same version"
    assert "suite billing version 2 (6 cases)" in changed.stderr
    assert [json.loads(o.stdout)["runs"][0]["suite_version"] for o in (first, again, changed)] == [1, 1, 2]
