from __future__ import annotations

import random

import pandas as pd

from trainer.augment.spelling import NEIGHBOURS, SpellingNoise, augment_judgments


def test_each_edit_kind_changes_the_query_as_documented():
    rng = random.Random(0)
    assert SpellingNoise(kinds=("merge",))("deck stain", rng) == "deckstain"
    dropped = SpellingNoise(kinds=("drop",))("cordless", rng)
    assert len(dropped) == 7
    doubled = SpellingNoise(kinds=("double",))("cordless", rng)
    assert len(doubled) == 9 and sorted(set(doubled)) == sorted(set("cordless"))
    split = SpellingNoise(kinds=("split",))("cordless", rng)
    assert split.replace(" ", "") == "cordless" and " " in split
    swapped = SpellingNoise(kinds=("swap",))("faucet", rng)
    assert sorted(swapped) == sorted("faucet") and swapped != "faucet"
    typo = SpellingNoise(kinds=("keyboard",))("drill", rng)
    diff = [(a, b) for a, b in zip("drill", typo, strict=True) if a != b]
    assert len(diff) == 1 and diff[0][1] in NEIGHBOURS[diff[0][0]]


def test_short_words_digits_and_other_scripts():
    rng = random.Random(1)
    noise = SpellingNoise(kinds=("drop", "keyboard", "swap", "double", "split"))
    assert noise("2x4 18v", rng) == "2x4 18v"  # nothing long enough and no digits touched
    out = noise("電動ドリル", rng)  # non-Latin: keyboard typos skipped, other edits apply
    assert out != "電動ドリル" and set(out) <= set("電動ドリル")
    assert noise("taladro inalámbrico", random.Random(3)) != "taladro inalámbrico"


def test_augmentation_is_additive_seeded_and_keeps_grades():
    frame = pd.DataFrame({"query": ["cordless drill"] * 2 + ["kitchen faucet"] * 2 + ["garden hose"],
                          "product_id": ["1", "2", "3", "4", "5"], "grade": [2, 0, 1, 2, 2]})
    out = augment_judgments(frame, fraction=1.0, seed=7)
    again = augment_judgments(frame, fraction=1.0, seed=7)
    pd.testing.assert_frame_equal(out, again)
    originals = out[~out["augmented"]]
    pd.testing.assert_frame_equal(originals[["query", "product_id", "grade"]], frame)
    added = out[out["augmented"]]
    assert len(added) == 5 and set(added["source_query"]) == set(frame["query"])
    for _, row in added.iterrows():
        src = frame[(frame["query"] == row["source_query"]) & (frame["product_id"] == row["product_id"])]
        assert int(src["grade"].iloc[0]) == row["grade"] and row["query"] != row["source_query"]
    assert augment_judgments(frame, fraction=0.0)["augmented"].sum() == 0
