"""Stage 2's step budget and circle-loss band centres, against hand-computed values."""

import pytest

from trainer.config import Stage1Config, Stage2Config, key_data
from trainer.stage2 import step_budget, supcon_arguments
from trainer.stage2_step import band_centers

LEARNED = {"partial": 0.19, "exact": 0.48}
SCORES = {"irrelevant": [0.2, 0.3, 0.4], "partial": [0.4, 0.5, 0.6, 0.7], "exact": [0.5, 0.6, 0.7]}


def test_medians_put_the_centres_half_way_between_grade_medians():
    # medians: irrelevant 0.3, partial 0.55, exact 0.6
    assert band_centers("medians", LEARNED, SCORES) == pytest.approx((0.425, 0.575))


def test_auto_uses_the_learned_thresholds():
    assert band_centers("auto", LEARNED, SCORES) == pytest.approx((0.19, 0.48))


def test_medians_fall_back_to_thresholds_without_a_grade_and_keep_bands_apart():
    assert band_centers("medians", LEARNED, {**SCORES, "partial": []}) == pytest.approx((0.19, 0.48))
    close = {"irrelevant": [0.5], "partial": [0.5], "exact": [0.52]}  # centres 0.5 and 0.51
    assert band_centers("medians", LEARNED, close) == pytest.approx((0.455, 0.555))


@pytest.mark.parametrize(("epochs", "max_steps", "queries", "expected"), [
    (1.0, 100, 7506, 100),   # 235 steps an epoch at 32 queries: capped
    (1.0, -1, 7506, 235),    # no cap: one epoch
    (1.0, 100, 50, 2),       # a small set stops after its epoch instead of looping to the cap
    (0.5, 100, 640, 10),
])
def test_step_budget(epochs, max_steps, queries, expected):
    assert step_budget(Stage2Config(epochs=epochs, max_steps=max_steps, queries_per_batch=32), queries) == expected


def test_the_stage1_loss_in_stage2_takes_the_loss_defaults_or_stage1s_settings():
    stage1 = Stage1Config(partial_negative_weight=0.3, symmetric=True, irrelevant_negative_weight=2.0)
    assert supcon_arguments(Stage2Config(), stage1) == {}
    inherited = Stage2Config(circle={"supcon_settings": "stage1"})
    assert supcon_arguments(inherited, stage1) == {
        "temperature": stage1.temperature, "partial_weight": stage1.partial_weight, "partial_negative_weight": 0.3,
        "symmetric": True, "irrelevant_negative_weight": 2.0}
    with pytest.raises(ValueError, match="no Stage 1 config"):
        supcon_arguments(inherited, None)
    # the neutral default leaves the keys of finished Stage 2 steps as they were
    assert "supcon_settings" not in key_data(("stage2",), Stage2Config())["circle"]
    assert key_data(("stage2",), inherited)["circle"]["supcon_settings"] == "stage1"
