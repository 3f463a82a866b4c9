"""The rule that reads an uploaded file's true class from its folder or file name, and the
tally of right and wrong that Classify shows."""

from __future__ import annotations

import pytest

from dlcore.results.inference import Tally, class_from_name, tally

DIGITS = [str(d) for d in range(10)]
PETS = ["cat", "dog", "cat_big"]


@pytest.mark.parametrize(
    ("name", "classes", "expected"),
    [
        ("my digits/7/photo.jpg", DIGITS, "7"),  # a folder upload: the folder names the class
        ("test/cat/IMG_1.jpg", PETS, "cat"),  # the nearest folder that is a class
        ("cat/dog/x.jpg", PETS, "dog"),  # the nearest one wins
        ("photos\\dog\\x.jpg", PETS, "dog"),  # Windows separators
        ("7_photo.jpg", DIGITS, "7"),  # the file name starts with the class ...
        ("7.png", DIGITS, "7"),  # ... or is the class
        ("cat.12.jpg", PETS, "cat"),  # Kaggle's naming
        ("dog-3.png", PETS, "dog"),
        ("cat_big_4.jpg", PETS, "cat_big"),  # the longest class that fits
        ("CAT.1.jpg", PETS, "cat"),  # case ignored when nothing matches exactly
        ("IMG_2041.jpg", DIGITS, None),  # a phone's name says nothing
        ("2024-05-01.jpg", DIGITS, None),  # 2024 is not "2" followed by a separator
        ("70_a.jpg", DIGITS, None),
        ("catalogue.jpg", PETS, None),
        ("camera photo", DIGITS, None),
    ],
)
def test_class_from_name(name, classes, expected):
    assert class_from_name(name, classes) == expected


def test_exact_case_wins_over_folded_case():
    assert class_from_name("Cat.1.jpg", ["cat", "Cat"]) == "Cat"
    assert class_from_name("10_a.jpg", ["1", "10"]) == "10"


def test_tally_counts_only_images_with_a_known_class():
    assert tally(["7", None, "3", "3"], ["7", "1", "8", "3"]) == Tally(2, 3, 1)
    assert tally([None], ["4"]) == Tally(0, 0, 1)
