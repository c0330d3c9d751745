"""Rendered Kubernetes objects: split into documents, keyed, validated offline, diffed."""

from __future__ import annotations

import pytest

from imagefleet.deploy.objects import Change, diff, key, names, split, validate
from imagefleet.errors import ChartYamlError

RENDERED = """---
# Source: app/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: hello
---
# Source: app/templates/empty.yaml
---
# Source: app/templates/role.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
---
# Source: app/templates/other-ns.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: edge
spec:
  ports: [{port: 80}]
"""


def test_split_keeps_non_empty_documents_with_their_template() -> None:
    parts = split(RENDERED)
    assert [source for source, _ in parts] == [
        "app/templates/configmap.yaml",
        "app/templates/role.yaml",
        "app/templates/other-ns.yaml",
    ]
    assert parts[0][1]["data"] == {"greeting": "hello"}


def test_split_of_a_document_without_source_comment() -> None:
    assert split("kind: ConfigMap\nmetadata: {name: a}\n") == [
        ("?", {"kind": "ConfigMap", "metadata": {"name": "a"}})
    ]
    assert split("") == []


def test_invalid_yaml_names_its_template() -> None:
    broken = "---\n# Source: app/templates/bad.yaml\nkind: ConfigMap\n  metadata: x\n"
    with pytest.raises(
        ChartYamlError, match=r"^app/templates/bad\.yaml: the chart rendered invalid"
    ):
        split(broken)


def test_key_uses_the_object_namespace_or_the_release_one() -> None:
    keys = [key(obj, "team") for _, obj in split(RENDERED)]
    assert keys == ["ConfigMap/team/app-config", "ClusterRole/team/reader", "Service/edge/web"]
    assert key({}, "team") == "?/team/?"


def test_diff_reports_added_removed_and_changed_objects_only() -> None:
    live = RENDERED.replace("name: reader", "name: old-reader")
    new = RENDERED.replace("greeting: hello", "greeting: bye")
    changes = diff(live, new, "team")
    assert [(c.key, c.action) for c in changes] == [
        ("ClusterRole/team/old-reader", "removed"),
        ("ClusterRole/team/reader", "added"),
        ("ConfigMap/team/app-config", "changed"),
    ]  # the Service is the same on both sides: not listed
    changed = changes[2]
    assert changed.diff[:2] == (
        "--- live/ConfigMap/team/app-config",
        "+++ new/ConfigMap/team/app-config",
    )
    assert "-  greeting: hello" in changed.diff
    assert "+  greeting: bye" in changed.diff


def test_diff_ignores_key_order_and_formatting() -> None:
    reordered = "metadata: {name: a}\nkind: ConfigMap\ndata: {x: '1'}\n"
    assert diff("kind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: '1'\n", reordered, "t") == []


def test_names_are_action_then_key() -> None:
    assert names([Change("ConfigMap/t/a", "added", ()), Change("Service/t/b", "removed", ())]) == [
        "added ConfigMap/t/a",
        "removed Service/t/b",
    ]


def test_validate_accepts_valid_objects() -> None:
    assert validate(RENDERED, "team", "1.30.0") == []


def test_validate_reports_the_field_and_template_of_each_problem() -> None:
    rendered = RENDERED + (
        "---\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata: {name: web}\nspec:\n  replicas: many\n"
    )
    [problem] = validate(rendered, "team", "1.30.0")
    assert (problem.key, problem.source) == ("Deployment/team/web", "app/templates/deploy.yaml")
    assert problem.message.startswith("spec.replicas: ")


def test_validate_reports_kinds_without_a_schema() -> None:
    [problem] = validate(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "t", "1.30.0"
    )
    assert problem.key == "Widget/t/w"
    assert problem.message.startswith("no schema for example.com/v1/Widget in Kubernetes 1.30.0")
