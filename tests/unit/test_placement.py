"""Placing images on BuildKit nodes: stable, balanced within a wave."""

from __future__ import annotations

import math

import pytest

from imagefleet.placement import per_node, place, preference

NODES = ["n0", "n1", "n2"]


def test_every_image_is_placed_on_a_known_node() -> None:
    waves = [["a"], ["b", "c", "d"], ["e"]]
    placed = place(waves, NODES)
    assert set(placed) == {"a", "b", "c", "d", "e"}
    assert set(placed.values()) <= set(NODES)


def test_the_same_input_places_the_same_way_whatever_the_node_order() -> None:
    waves = [[f"img-{i}" for i in range(20)], [f"leaf-{i}" for i in range(7)]]
    first = place(waves, NODES)
    assert place(waves, list(reversed(NODES))) == first
    assert place([list(reversed(w)) for w in waves], NODES) == first


@pytest.mark.parametrize("size", [1, 2, 5, 9, 10, 31])
def test_a_wave_is_balanced(size: int) -> None:
    wave = [f"img-{i}" for i in range(size)]
    placed = place([wave], NODES)
    cap = math.ceil(size / len(NODES))
    assert all(len(images) <= cap for images in per_node(placed).values())


def test_a_wave_as_large_as_the_nodes_uses_every_node() -> None:
    placed = place([["x", "y", "z"]], NODES)
    assert sorted(placed.values()) == NODES


def test_an_image_alone_in_its_wave_goes_where_it_prefers() -> None:
    for image in ("a", "b", "fx-base", "fx-middle"):
        assert place([[image]], NODES)[image] == preference(image, NODES)[0]


def test_adding_a_node_moves_only_images_the_new_node_wins() -> None:
    images = [f"img-{i}" for i in range(200)]
    before = {i: preference(i, NODES)[0] for i in images}
    after = {i: preference(i, [*NODES, "n3"])[0] for i in images}
    moved = [i for i in images if before[i] != after[i]]
    assert all(after[i] == "n3" for i in moved)
    assert 0 < len(moved) < len(images) / 2


def test_one_node_takes_everything() -> None:
    assert set(place([["a", "b"], ["c"]], ["only"]).values()) == {"only"}


def test_no_nodes_is_refused() -> None:
    with pytest.raises(ValueError, match="no nodes"):
        place([["a"]], [])


def test_an_image_goes_only_to_nodes_that_list_all_its_platforms() -> None:
    from imagefleet.placement import candidates

    offered = {
        "n0": ("linux/amd64", "linux/amd64/v2", "linux/386"),
        "n1": ("linux/amd64", "linux/arm64"),
        "n2": (),  # not bootstrapped: unknown, left to BuildKit
    }
    wanted = {"wide": ("linux/amd64", "linux/arm64/v8"), "plain": (), "arm": ("linux/arm/v7",)}
    assert candidates(wanted, offered) == {
        "wide": ["n1", "n2"],
        "plain": ["n0", "n1", "n2"],
        "arm": ["n2"],
    }


def test_allowed_nodes_narrow_placement_and_a_full_one_still_takes_its_images() -> None:
    wave = [f"img-{i}" for i in range(6)]
    placed = place([wave], NODES, {name: ["n1"] for name in wave[:4]})
    assert {placed[name] for name in wave[:4]} == {"n1"}  # over its share: still the only one
    assert set(placed.values()) <= set(NODES)
    with pytest.raises(ValueError, match="img-0"):
        place([wave], NODES, {"img-0": []})
