"""Reading buildx builders and their nodes; one-node builders; unknown names refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from imagefleet import buildx
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
