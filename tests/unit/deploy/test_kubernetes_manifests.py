"""deploy/kubernetes: valid Kubernetes objects, and true to the code they run.

Every manifest is checked against the Kubernetes API schemas that
kubernetes-validate ships inside its package (no network), and against
slipway itself: the Deployment's arguments must parse as `slipway serve`'s
options, its container port must be the port those arguments listen on, its
probes must be routes the server answers without the admin token, every env
var it sets must be one the code reads, the ConfigMap's routing file must pass
slipway's own config validation, and the grace period must cover the way
slipway drains on SIGTERM.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "deploy" / "kubernetes"
SRC = ROOT / "src" / "slipway"
#: The oldest Kubernetes the manifests claim to work on (the preStop `sleep` action), and the newest schema.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
#: A token the tests start the server with; never a real one.
TEST_TOKEN = "test-token-" + "0" * 40


def kustomization() -> dict[str, Any]:
    data = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    return data


def manifest_files() -> list[Path]:
    return [MANIFESTS / name for name in kustomization()["resources"]]


def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path.name, doc


def the(kind: str) -> dict[str, Any]:
    found = [doc for _name, doc in documents() if doc.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in {MANIFESTS}, found {len(found)}"
    return found[0]


def container() -> dict[str, Any]:
    containers = the("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the tests expect one container, slipway's"
    result: dict[str, Any] = containers[0]
    return result


def serve_command() -> Any:
    """The click command Typer builds for `slipway serve` (Typer ships its own click)."""
    from slipway.cli.main import app

    return typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]


def serve_params() -> dict[str, Any]:
    """`slipway serve`'s options as the CLI parses the Deployment's args (unknown ones raise)."""
    c = container()
    assert c["command"] == ["slipway"], "the container must run the `slipway` entry point"
    args = list(c["args"])
    assert args[0] == "serve", "the first argument must be the `serve` command"
    with serve_command().make_context("serve", args[1:]) as ctx:
        return dict(ctx.params)


def named_port(port: int | str) -> int:
    """A probe's or Service's port, with a port name resolved against the container's ports."""
    if isinstance(port, int):
        return port
    matches = [p["containerPort"] for p in container()["ports"] if p.get("name") == port]
    assert matches, f"no container port is named {port!r}"
    return int(matches[0])


# --- the files and the Kubernetes schemas -------------------------------------------------------


def test_the_kustomization_lists_every_manifest_in_the_directory() -> None:
    listed = set(kustomization()["resources"])
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, "kustomization.yaml must list exactly the manifests beside it"
    assert {doc["kind"] for _name, doc in documents()} == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }


def test_the_schemas_are_read_from_the_package_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_network(*_args: object, **_kwargs: object) -> socket.socket:
        raise AssertionError("kubernetes-validate tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    kubernetes_validate.validate(the("Service"), K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_a_valid_kubernetes_object(version: str) -> None:
    problems = []
    for name, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name} ({doc.get('kind')}): {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def test_the_service_and_the_disruption_budget_select_the_deployments_pods() -> None:
    deployment = the("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        the("Service")["spec"]["selector"],
        the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items(), f"{selector} does not select {pod_labels}"


def test_three_replicas_and_at_most_one_taken_by_a_disruption() -> None:
    assert the("Deployment")["spec"]["replicas"] == 3
    budget = the("PodDisruptionBudget")["spec"]
    assert budget.get("minAvailable") == 2 or budget.get("maxUnavailable") == 1


# --- the Deployment against `slipway serve` -----------------------------------------------------


def test_the_args_are_options_slipway_serve_accepts() -> None:
    params = serve_params()
    documented = {opt for p in serve_command().params for opt in p.opts}
    given = {a.split("=", 1)[0] for a in container()["args"][1:] if a.startswith("-")}
    assert given <= documented, f"not options of `slipway serve`: {sorted(given - documented)}"
    assert params["store"] is None, "the store URL comes from the Secret, not the command line"
    env = {e["name"]: e for e in container()["env"]}
    assert env["SLIPWAY_STORE"]["valueFrom"]["secretKeyRef"]["name"] == "slipway", env
    assert params["config"] is not None, "replicas need the routing file"


def test_the_args_are_in_slipway_serve_help() -> None:
    from typer.testing import CliRunner

    from slipway.cli.main import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for arg in container()["args"][1:]:
        if arg.startswith("--"):
            assert arg.split("=", 1)[0] in result.output, f"{arg} is not in `slipway serve --help`"


def test_the_container_port_is_the_port_slipway_serve_listens_on() -> None:
    params = serve_params()
    ports = [p["containerPort"] for p in container()["ports"]]
    assert ports == [params["port"]], f"containerPort {ports} but `slipway serve --port {params['port']}`"
    service_ports = [named_port(p["targetPort"]) for p in the("Service")["spec"]["ports"]]
    assert service_ports == [params["port"]], "the Service must send traffic to the port slipway listens on"
    assert params["host"] in ("0.0.0.0", "::"), "on loopback only the pod itself could reach it"


def test_the_routing_file_is_mounted_where_config_points() -> None:
    config_path = Path(serve_params()["config"])
    c = container()
    volumes = {v["name"]: v for v in the("Deployment")["spec"]["template"]["spec"]["volumes"]}
    mounts = [m for m in c["volumeMounts"] if Path(m["mountPath"]) == config_path.parent]
    assert len(mounts) == 1, f"nothing is mounted at {config_path.parent}"
    assert "subPath" not in mounts[0], "a subPath mount never sees ConfigMap updates"
    source = volumes[mounts[0]["name"]]["configMap"]["name"]
    config_map = the("ConfigMap")
    assert source == config_map["metadata"]["name"]
    assert config_path.name in config_map["data"], f"the ConfigMap has no key {config_path.name}"


def probes() -> dict[str, dict[str, Any]]:
    c = container()
    return {name: c[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}


def test_liveness_is_healthz_and_readiness_is_readyz_on_the_serving_port() -> None:
    found = probes()
    assert found["livenessProbe"]["path"] == "/healthz"
    assert found["readinessProbe"]["path"] == "/readyz"
    port = serve_params()["port"]
    for name, probe in found.items():
        assert named_port(probe["port"]) == port, f"{name} probes another port than slipway's"
        assert "httpHeaders" not in probe, f"{name} must not need headers (a token in the manifest)"


def test_the_probe_paths_are_answered_without_the_admin_token(tmp_path: Path) -> None:
    """The app `slipway serve` runs, with a token set: probes get through, the admin API does not."""
    from slipway.app.serve import create_app
    from slipway.app.settings import ServeSettings

    params = serve_params()
    config_file = tmp_path / "slipway.yaml"
    config_file.write_text(the("ConfigMap")["data"][Path(params["config"]).name])
    settings = ServeSettings(
        config_path=config_file,
        store_url=f"sqlite:///{tmp_path / 'never-opened.db'}",
        host=params["host"],
        port=params["port"],
        admin_token=TEST_TOKEN,
        watch_config=False,
        workdir=tmp_path,
    )
    app, _runtime = create_app(settings)

    async def get(path: str) -> httpx.Response:
        # The kubelet sends the pod's IP as Host, and no Authorization header.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://10.1.2.3:{params['port']}") as c:
            return await c.get(path)

    for name, probe in probes().items():
        response = asyncio.run(get(probe["path"]))
        # /readyz says 503 here (no store was opened): an answer, not a refusal for the token or Host.
        assert response.status_code in (200, 503), f"{name} {probe['path']}: {response.status_code}"
        assert response.headers["content-type"].startswith("application/json")
    assert asyncio.run(get("/healthz")).status_code == 200
    assert asyncio.run(get("/admin/status")).status_code == 401, "the token must guard the admin API"


# --- env vars, the Secret and the routing file --------------------------------------------------


def _env_names_read(tree: ast.Module) -> set[str]:
    """Names passed to os.environ.get / os.getenv / os.environ[...] / Option(envvar=...) in one module."""
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }

    def value(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    found: set[str] = set()
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args:
            func = ast.unparse(node.func)
            if func in ("os.environ.get", "os.getenv", "environ.get", "getenv"):
                name = value(node.args[0])
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ"):
            name = value(node.slice)
        if isinstance(node, ast.keyword) and node.arg == "envvar":
            name = value(node.value)
        if name:
            found.add(name)
    return found


def env_names_the_code_reads() -> set[str]:
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        names |= _env_names_read(ast.parse(path.read_text(), str(path)))
    return names


def test_the_code_reading_env_vars_is_found() -> None:
    """The scan below is only worth something if it sees what `slipway serve` is known to read."""
    assert {"SLIPWAY_ADMIN_TOKEN", "SLIPWAY_CLOCK_SCALE", "SLIPWAY_URL"} <= env_names_the_code_reads()


def test_every_env_var_the_deployment_sets_is_read_by_the_code() -> None:
    from slipway.core.config import parse_config

    routing = parse_config(the("ConfigMap")["data"][Path(serve_params()["config"]).name])
    read = env_names_the_code_reads() | {s.api_key_env for s in routing.slots.values() if s.api_key_env}
    args = " ".join(container()["args"])
    for env in container()["env"]:
        name = env["name"]
        if f"$({name})" in args:
            # Not for slipway: Kubernetes substitutes it into the args before the process starts.
            assert name not in read, f"{name} is read by the code, so set it for the code, not the args"
            continue
        assert name in read, f"{name} is set in the Deployment but no code reads it"


def test_the_admin_token_comes_from_the_secret() -> None:
    env = {e["name"]: e for e in container()["env"]}
    assert "value" not in env["SLIPWAY_ADMIN_TOKEN"], "never a token written in the manifest"
    secret = the("Secret")
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"], f"the Secret has no key {ref['key']}"
    assert env["SLIPWAY_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "admin-token"
    # The feedback token is optional: an empty value leaves feedback open, and a Secret made
    # without the key still starts the pod.
    feedback = env["SLIPWAY_FEEDBACK_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert feedback["key"] == "feedback-token" and feedback["optional"] is True
    assert secret["stringData"]["feedback-token"] == ""


def test_the_secret_template_cannot_be_started_with() -> None:
    """Applied unedited, slipway refuses the placeholder token and cannot reach the placeholder store."""
    from sqlalchemy import make_url

    from slipway.web.auth import token_problem

    data = the("Secret")["stringData"]
    assert token_problem(data["admin-token"]) is not None, "the placeholder token would be accepted"
    url = make_url(data["store-url"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host is not None and url.host.endswith(".invalid"), "the placeholder store must not resolve"


def test_the_configmap_routing_file_passes_slipways_validation() -> None:
    from slipway.app.config_file import load_config
    from slipway.core.hosts import split_host

    text = the("ConfigMap")["data"][Path(serve_params()["config"]).name]
    loaded = load_config(text, "deploy/kubernetes/configmap.yaml")
    for name, slot in loaded.routing.slots.items():
        assert slot.endpoint is not None
        parsed = split_host(slot.endpoint.split("://", 1)[-1].split("/", 1)[0])
        assert parsed is not None and parsed[0] not in ("localhost", "127.0.0.1", "::1"), (
            f"slot {name}: {slot.endpoint} would be the slipway pod itself"
        )
    service = the("Service")["metadata"]["name"]
    assert service in loaded.routing.gateway.allowed_hosts, "the admin API must answer to the Service name"


# --- drain, file system, resources --------------------------------------------------------------


def _graceful_shutdown_seconds() -> float:
    """How long requests in flight may take after SIGTERM, as the ConfigMap's routing file sets it."""
    from slipway.app.config_file import load_config

    text = the("ConfigMap")["data"][Path(serve_params()["config"]).name]
    return load_config(text, "deploy/kubernetes/configmap.yaml").routing.gateway.shutdown_grace_s


def test_serve_gives_uvicorn_the_configured_grace() -> None:
    tree = ast.parse((SRC / "app" / "serve.py").read_text())
    grace = [
        ast.unparse(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.keyword) and n.arg == "timeout_graceful_shutdown"
    ]
    assert grace == ["gateway.shutdown_grace_s"], grace


def test_the_grace_period_covers_slipways_drain_on_sigterm() -> None:
    from slipway.gateway import batch_writer
    from slipway.notify.webhook import WebhookNotifier

    spec = the("Deployment")["spec"]["template"]["spec"]
    pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    writer = batch_writer.CLOSE_TIMEOUT_S + 1.0  # close() lets a write under way finish 1 s late
    drain = (
        pre_stop
        + _graceful_shutdown_seconds()  # requests and streams in flight
        + writer
        + batch_writer.PROBE_TIMEOUT_S  # request records, then the clean-stop mark
        + writer  # shadow pairs
        + inspect.signature(WebhookNotifier.close).parameters["drain_s"].default  # webhooks
    )
    grace = spec["terminationGracePeriodSeconds"]
    assert grace >= drain, f"terminationGracePeriodSeconds {grace} < {drain:g} s slipway may take to stop"
    assert grace <= drain + 30, f"terminationGracePeriodSeconds {grace} is far beyond the {drain:g} s drain"


def test_non_root_read_only_and_the_working_directory_is_writable() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    c = container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = [Path(m["mountPath"]) for m in c["volumeMounts"] if m["name"] in empty_dirs]
    # slipway writes under its working directory (.slipway/ for engine logs, SQLite) and tempfiles go to /tmp.
    for needed in (Path(c["workingDir"]), Path("/tmp")):
        assert any(needed == w or w in needed.parents for w in writable), f"{needed} is not writable"


def _mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, f"write memory as Mi or Gi: {quantity}"
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def test_memory_requests_and_limits_leave_headroom_over_the_measured_peak() -> None:
    resources = container()["resources"]
    request = _mebibytes(resources["requests"]["memory"])
    limit = _mebibytes(resources["limits"]["memory"])
    comment = (MANIFESTS / "deployment.yaml").read_text()
    peak = max(float(m) for m in re.findall(r"VmHWM (\d+) MiB", comment))
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    assert f"{peak:g} MiB" in docs, "docs/kubernetes.md and the Deployment must give the same measurement"
    assert peak * 1.2 <= request <= peak * 2, f"request {request} MiB against a measured peak of {peak} MiB"
    assert limit >= 2 * request
