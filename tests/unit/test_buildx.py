"""Reading buildx builders and their nodes; one-node builders; unknown names refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from imagefleet import buildx
from imagefleet.engine import BuildRequest
from imagefleet.errors import UnknownBuilderError

LS_JSON = "\n".join(
    json.dumps(row)
    for row in (
        {
            "Name": "nodes",
            "Driver": "remote",
            "Nodes": [
                {"Name": "nodes0", "Endpoint": "tcp://10.0.0.1:1234", "Platforms": ["linux/amd64"]},
                {"Name": "nodes1", "Endpoint": "tcp://10.0.0.2:1234", "Platforms": ["linux/arm64"]},
            ],
        },
        {"Name": "default", "Driver": "docker", "Nodes": [{"Name": "default"}]},
        {"Name": "imagefleet-nodes-nodes0", "Driver": "remote", "Nodes": []},
    )
)
INSPECT = """Name:          nodes
Driver:        remote
Last Activity: 2026-11-30 13:54:17 +0000 UTC

Nodes:
Name:             nodes0
Endpoint:         tcp://10.0.0.1:1234
Status:           running
Platforms:        linux/amd64, linux/amd64/v2
Labels:
 org.mobyproject.buildkit.worker.executor:         oci

Name:             nodes1
Endpoint:         tcp://10.0.0.2:1234
Status:           running
Platforms:        linux/arm64
"""


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    instances = tmp_path / "buildx" / "instances"
    instances.mkdir(parents=True)
    record = {
        "Name": "nodes",
        "Driver": "remote",
        "Nodes": [
            {"Name": "nodes0", "Endpoint": "tcp://10.0.0.1:1234", "DriverOpts": {"cacert": "/ca"}},
            {"Name": "nodes1", "Endpoint": "tcp://10.0.0.2:1234", "DriverOpts": None},
        ],
    }
    (instances / "nodes").write_text(json.dumps(record))
    return instances


class Docker:
    """A ``docker`` double: answers from a table, records every command line."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        code, out = self.answers.get(tuple(argv), (0, ""))
        return subprocess.CompletedProcess(list(argv), code, out, "")


def test_ls_json_gives_builders_nodes_and_driver_options() -> None:
    found = buildx.parse_ls_json(LS_JSON)
    nodes = found["nodes"]
    assert nodes.driver == "remote"
    assert not nodes.local
    assert [n.label for n in nodes.nodes] == ["nodes/nodes0", "nodes/nodes1"]
    assert nodes.nodes[0].endpoint == "tcp://10.0.0.1:1234"
    assert nodes.nodes[0].driver_opts == {"cacert": "/ca"}
    assert nodes.nodes[1].platform == "linux/arm64"
    assert found["default"].local


def test_inspect_text_gives_the_same_nodes() -> None:
    builder = buildx.parse_inspect(INSPECT)
    assert builder.name == "nodes"
    assert builder.driver == "remote"
    assert [(n.name, n.endpoint) for n in builder.nodes] == [
        ("nodes0", "tcp://10.0.0.1:1234"),
        ("nodes1", "tcp://10.0.0.2:1234"),
    ]
    assert builder.nodes[0].platforms == ("linux/amd64", "linux/amd64/v2")


def test_the_tools_own_node_builders_are_not_listed() -> None:
    docker = Docker({("docker", "buildx", "ls", "--format", "json"): (0, LS_JSON)})
    assert set(buildx.builders(docker)) == {"nodes", "default"}


def test_an_older_buildx_is_read_through_inspect() -> None:
    table = "NAME/NODE DRIVER/ENDPOINT STATUS\nnodes remote\n  nodes0 tcp://10.0.0.1:1234\n"
    docker = Docker(
        {
            ("docker", "buildx", "ls", "--format", "json"): (1, ""),
            ("docker", "buildx", "ls"): (0, table),
            ("docker", "buildx", "inspect", "nodes"): (0, INSPECT),
        }
    )
    assert [n.name for n in buildx.builders(docker)["nodes"].nodes] == ["nodes0", "nodes1"]


def test_an_unknown_builder_names_the_known_ones() -> None:
    docker = Docker({("docker", "buildx", "ls", "--format", "json"): (0, LS_JSON)})
    with pytest.raises(UnknownBuilderError) as caught:
        buildx.resolve(["nodes", "nodez"], docker)
    assert "nodez" in caught.value.message
    assert "default, nodes" in caught.value.hint
    assert caught.value.exit_code == 2


def test_a_remote_node_gets_a_one_node_builder_with_its_endpoint_and_options(
    store: Path,
) -> None:
    node = buildx.parse_ls_json(LS_JSON)["nodes"].nodes[0]
    docker = Docker({})
    name = buildx.ensure_node_builder(node, docker)
    assert name == "imagefleet-nodes-nodes0"
    assert docker.calls == [
        [
            *("docker", "buildx", "create", "--name", name, "--driver", "remote"),
            *("--driver-opt", "cacert=/ca", "tcp://10.0.0.1:1234"),
        ]
    ]
    # Once buildx has recorded it, it is reused as long as the node stays where it is.
    record = {
        "Name": name,
        "Driver": "remote",
        "Nodes": [{"Name": f"{name}0", "Endpoint": node.endpoint, "DriverOpts": {"cacert": "/ca"}}],
    }
    (store / name).write_text(json.dumps(record))
    again = Docker({})
    assert buildx.ensure_node_builder(node, again) == name
    assert again.calls == []
    moved = buildx.Node("nodes", "nodes0", "tcp://10.0.0.9:1234", "remote", (), {"cacert": "/ca"})
    buildx.ensure_node_builder(moved, again)
    assert again.calls[0] == ["docker", "buildx", "rm", name]
    assert again.calls[1][-1] == "tcp://10.0.0.9:1234"


def test_a_kubernetes_node_gets_a_builder_of_the_same_node_name() -> None:
    node = buildx.Node(
        "k8s", "buildkit0", "kubernetes:///k8s", "kubernetes", (), {"namespace": "ci"}
    )
    docker = Docker({})
    buildx.ensure_node_builder(node, docker)
    assert docker.calls[0][-4:] == ["--driver-opt", "namespace=ci", "--node", "buildkit0"]


# -- one image's bake on a node: one target, or one per platform ---------------------------------

FAKE_DOCKER = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
definition = json.load(open(args[args.index("--file") + 1]))
json.dump({"argv": args, "definition": definition}, open(os.environ["FX_SEEN"], "w"))
targets = [a for a in args[args.index("--progress=plain") + 1:]]
failing = os.environ.get("FX_FAIL", "")
for n, target in enumerate(targets):
    print(f"#{n + 1} [{target} 1/2] RUN true")
    if target == failing:
        print(f"#{n + 1} ERROR: process \\"/bin/sh -c false\\" did not complete: exit code: 1")
if failing:
    print("ERROR: failed to solve: exit code: 1")
    sys.exit(1)
metadata = {t: {"containerimage.digest": "sha256:" + str(n) * 64} for n, t in enumerate(targets)}
json.dump(metadata, open(args[args.index("--metadata-file") + 1], "w"))
"""


def _requests(tmp_path: Path, platforms: tuple[str, ...]) -> list[BuildRequest]:
    base = BuildRequest(
        image="fx.mp",
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        tags=(),
        outputs=("type=image,name=r/fx.mp,push-by-digest=true,push=true",),
        attest=("type=provenance,mode=max",),
    )
    from dataclasses import replace

    return [
        replace(
            base,
            platforms=(p,),
            cache_to=(f"type=registry,ref=r/fx.mp:buildcache-{p.replace('/', '-')},mode=max",),
        )
        for p in platforms
    ]


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A buildx plugin where the docker CLI finds it first (the user's plugin directory), which
    the tool runs itself: it records its bake and writes per-target digests."""
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    script = plugins / "docker-buildx"
    script.write_text(FAKE_DOCKER)
    script.chmod(0o755)
    monkeypatch.setenv("DOCKER_CONFIG", str(plugins.parent))
    seen = tmp_path / "seen.json"
    monkeypatch.setenv("FX_SEEN", str(seen))
    return seen


def test_a_multi_platform_image_is_one_bake_of_a_target_per_platform(
    tmp_path: Path, fake_docker: Path
) -> None:
    requests = _requests(tmp_path, ("linux/amd64", "linux/arm64"))
    titles: list[str] = []
    got = buildx.build_on("imagefleet-b-n0", requests, titles.append)
    assert got.error is None
    assert got.digests == ("sha256:" + "0" * 64, "sha256:" + "1" * 64)  # in request order
    seen = json.loads(fake_docker.read_text())
    names = ["fx_mp-linux-amd64", "fx_mp-linux-arm64"]
    assert seen["argv"][-2:] == names
    assert seen["argv"][:2] == ["bake", "--builder"]
    targets = seen["definition"]["target"]
    assert list(targets) == names
    assert targets[names[0]]["platforms"] == ["linux/amd64"]
    assert targets[names[1]]["platforms"] == ["linux/arm64"]
    assert targets[names[1]]["cache-to"] == [
        "type=registry,ref=r/fx.mp:buildcache-linux-arm64,mode=max"
    ]
    assert targets[names[0]]["output"] == targets[names[1]]["output"]
    assert targets[names[1]]["attest"] == ["type=provenance,mode=max"]
    assert titles == ["[linux/amd64 1/2] RUN true", "[linux/arm64 1/2] RUN true"]


def test_a_single_platform_image_keeps_its_one_target(tmp_path: Path, fake_docker: Path) -> None:
    got = buildx.build_on("imagefleet-b-n0", _requests(tmp_path, ("linux/arm64",)))
    assert got.digests == ("sha256:" + "0" * 64,)
    seen = json.loads(fake_docker.read_text())
    assert list(seen["definition"]["target"]) == ["fx_mp"]


def test_one_failed_platform_fails_the_image_with_that_targets_error(
    tmp_path: Path, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagefleet.errors import BuildStepError

    monkeypatch.setenv("FX_FAIL", "fx_mp-linux-arm64")
    got = buildx.build_on("imagefleet-b-n0", _requests(tmp_path, ("linux/amd64", "linux/arm64")))
    assert got.digests == ()
    assert isinstance(got.error, BuildStepError)
    assert "fx.mp" in got.error.message
    assert "exit code: 1" in got.error.message
