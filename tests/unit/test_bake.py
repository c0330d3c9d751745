"""The bake definition: targets, named contexts (same batch vs built before), args, labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from imagefleet.bake import (
    HEAD_START_MIN,
    context_key,
    contexts,
    definition,
    fresh_image,
    runs,
    target_names,
)
from imagefleet.engine import BuildRequest

BASE = BuildRequest(
    image="fx-base",
    context=Path("/p/images/fx-base"),
    dockerfile=Path("/p/images/fx-base/Dockerfile"),
    tags=("fx-base:abc",),
    build_args={"VERSION": "1.2"},
    labels={"org.opencontainers.image.title": "fx-base"},
)
LEAF = BuildRequest(
    image="fx-leaf",
    context=Path("/p/images/fx-leaf"),
    dockerfile=Path("/p/images/fx-leaf/Dockerfile"),
    tags=("fx-leaf:abc", "fx-leaf:latest"),
    platforms=("linux/amd64",),
    no_cache=True,
    parents={"localhost:5000/fleet/fx-middle:1.0": "fx-middle:abc"},
    batch_parents={"localhost:5000/fleet/fx-base:latest": "fx-base"},
)


def test_targets_carry_context_dockerfile_tags_args_labels_and_load() -> None:
    found = definition([BASE, LEAF], target_names(["fx-base", "fx-leaf"]))
    assert found["target"]["fx-base"] == {
        "context": "/p/images/fx-base",
        "dockerfile": "/p/images/fx-base/Dockerfile",
        "tags": ["fx-base:abc"],
        "args": {"VERSION": "1.2"},
        "labels": {"org.opencontainers.image.title": "fx-base"},
        "contexts": {},
        "output": ["type=docker"],
    }
    leaf = found["target"]["fx-leaf"]
    assert leaf["tags"] == ["fx-leaf:abc", "fx-leaf:latest"]
    assert leaf["platforms"] == ["linux/amd64"]
    assert leaf["no-cache"] is True


def test_secrets_are_secret_entries_never_args() -> None:
    request = dataclasses.replace(BASE, secrets=("id=npm_token,env=NPM_TOKEN", "id=a,env=A"))
    [target] = definition([request], target_names(["fx-base"]))["target"].values()
    assert target["secret"] == ["id=npm_token,env=NPM_TOKEN", "id=a,env=A"]
    assert target["args"] == {"VERSION": "1.2"}
    assert "secret" not in definition([BASE], target_names(["fx-base"]))["target"]["fx-base"]


def test_parents_in_the_batch_are_targets_earlier_ones_local_images() -> None:
    assert contexts(LEAF, {"fx-base": "fx-base", "fx-leaf": "fx-leaf"}) == {
        "localhost:5000/fleet/fx-base": "target:fx-base",
        "localhost:5000/fleet/fx-middle:1.0": "docker-image://fx-middle:abc",
    }


def test_context_keys_are_what_the_dockerfile_frontend_looks_up() -> None:
    # Measured on buildx 0.13.1: a `…:latest` key never matches in bake; other tags must stay.
    assert context_key("localhost:5000/fleet/fx-base:latest") == "localhost:5000/fleet/fx-base"
    assert context_key("localhost:5000/fleet/fx-base:v1") == "localhost:5000/fleet/fx-base:v1"
    assert context_key("localhost:5000/fleet/fx-base") == "localhost:5000/fleet/fx-base"
    assert context_key("docker.io/library/alpine:latest") == "alpine"
    assert context_key("docker.io/library/alpine:3.20") == "alpine:3.20"
    assert context_key("index.docker.io/org/tool:latest") == "org/tool"
    pinned = "ghcr.io/o/x:latest@sha256:" + "a" * 64
    assert context_key(pinned) == pinned


def test_target_names_are_safe_and_unique() -> None:
    assert target_names(["a.b", "a_b", "internal", "default", "ok-1"]) == {
        "a.b": "a_b",
        "a_b": "a_b_2",
        "internal": "internal_",
        "default": "default_",
        "ok-1": "ok-1",
    }


def test_template_characters_stay_literal() -> None:
    request = BuildRequest(
        image="x",
        context=Path("/c"),
        dockerfile=Path("/c/Dockerfile"),
        tags=("x:1",),
        labels={"description": "uses ${HOME} and %{if}"},
    )
    found = definition([request], {"x": "x"})
    assert found["target"]["x"]["labels"] == {"description": "uses $${HOME} and %%{if}"}


def test_a_dropped_bake_built_what_now_has_all_its_tags_anew() -> None:
    tags = ("fx:abc", "fx:key")
    new = {"fx:abc": "sha256:n", "fx:key": "sha256:n"}
    assert fresh_image(tags, {}, new) == "sha256:n"
    assert fresh_image(tags, {"fx:abc": "sha256:o"}, new) == "sha256:n"  # moved: rebuilt
    assert fresh_image(tags, new, new) is None  # there before: not this bake's
    assert fresh_image(tags, {}, {"fx:abc": "sha256:n"}) is None  # killed while naming
    assert fresh_image(tags, {}, {"fx:abc": "sha256:n", "fx:key": "sha256:o"}) is None


def test_attestations_are_the_targets_attest_entries_and_absent_without_them() -> None:
    from dataclasses import replace

    wanted = ("type=provenance,mode=max", "type=sbom,generator=localhost:5000/fleet/s@sha256:a")
    wide = replace(BASE, platforms=("linux/amd64", "linux/arm64"), attest=wanted)
    found = definition([wide, LEAF], target_names(["fx-base", "fx-leaf"]))["target"]
    assert found["fx-base"]["attest"] == list(wanted)
    assert found["fx-base"]["platforms"] == ["linux/amd64", "linux/arm64"]  # one index
    assert "attest" not in found["fx-leaf"]


def _deep(children: int) -> list[BuildRequest]:
    """A root with ``children`` images on it, all in one batch."""
    kids = [
        dataclasses.replace(
            LEAF,
            image=f"fx-kid-{n}",
            tags=(f"fx-kid-{n}:abc",),
            no_cache=False,
            parents={},
            batch_parents={"localhost:5000/fleet/fx-base:latest": "fx-base"},
        )
        for n in range(children)
    ]
    root = dataclasses.replace(BASE, cache_to=("type=inline",), attest=("type=sbom",))
    return [root, *kids]


def test_a_shallow_or_small_batch_is_one_bake() -> None:
    flat = [BASE, dataclasses.replace(BASE, image="fx-other")]
    for requests in (flat, _deep(HEAD_START_MIN - 1)):
        targets = target_names(r.image for r in requests)
        [run] = runs(requests, targets)
        assert list(run.requests) == requests
        assert run.own == {r.image for r in requests}


def test_the_roots_of_a_deep_batch_get_a_head_start() -> None:
    requests = _deep(HEAD_START_MIN)
    targets = target_names(r.image for r in requests)
    head, batch = runs(requests, targets)
    assert list(head.requests) == requests[:1]
    assert head.own == {"fx-base"}
    assert head.log.targets == {"fx-base"}
    # The batch's bake holds every image, for the children's `target:` contexts; the root in it
    # has no tags, output, attestations or cache export: the head start exports it.
    assert [r.image for r in batch.requests] == [r.image for r in requests]
    assert batch.own == {r.image for r in requests} - {"fx-base"}
    copy = definition(batch.requests, targets)["target"]["fx-base"]
    assert copy["tags"] == []
    assert copy["output"] == ["type=cacheonly"]
    assert "attest" not in copy
    assert "cache-to" not in copy
    assert copy["context"] == "/p/images/fx-base"
    assert copy["args"] == {"VERSION": "1.2"}  # the same build, so BuildKit runs it once
    kid = definition(batch.requests, targets)["target"]["fx-kid-0"]
    assert kid["contexts"]["localhost:5000/fleet/fx-base"] == "target:fx-base"


def test_no_head_start_without_the_cache() -> None:
    requests = [dataclasses.replace(r, no_cache=True) for r in _deep(HEAD_START_MIN + 2)]
    assert len(runs(requests, target_names(r.image for r in requests))) == 1
