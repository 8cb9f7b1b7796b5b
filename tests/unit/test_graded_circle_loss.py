"""The graded circle loss on hand-made similarities."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.losses.graded_circle import graded_circle_loss


def products_at(cosines: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    angles = torch.tensor([math.acos(c) for c in cosines], requires_grad=True)
    return angles, torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def dloss_dcos(cosines, grades, **kw):
    angles, p = products_at(cosines)
    loss = graded_circle_loss(torch.tensor([[1.0, 0.0]]), p, torch.tensor([grades]), **kw)
    loss.backward()
    return (angles.grad * (-1.0 / torch.sin(angles.detach()))).tolist(), float(loss.detach())


def test_gradients_pull_each_grade_towards_its_band():
    grads, _ = dloss_dcos([0.4, 0.4, 0.4], [2, 1, 0])
    d_exact, d_partial, d_irrelevant = grads
    assert d_exact < 0  # exact goes up
    assert d_irrelevant > 0  # irrelevant goes down
    assert d_exact < d_partial < d_irrelevant


def test_partial_above_band_is_pushed_down_below_band_pulled_up():
    high, _ = dloss_dcos([0.9, 0.85, 0.1], [2, 1, 0])
    low, _ = dloss_dcos([0.9, 0.05, 0.1], [2, 1, 0])
    assert high[1] > 0 and low[1] < 0


def test_pairs_past_their_optimum_get_no_gradient_and_inverted_grades_cost_most():
    good_grads, good = dloss_dcos([0.95, 0.47, 0.0], [2, 1, 0])
    _, bad = dloss_dcos([0.0, 0.47, 0.95], [2, 1, 0])
    # exact above O_p and irrelevant below O_n: weights alpha are 0, so no gradient
    assert good_grads[0] == 0.0 and good_grads[2] == 0.0
    assert bad > 10 * good


def test_far_pairs_get_larger_weight_than_near_ones():
    # the further an irrelevant product is above its optimum, the larger its gradient
    near, _ = dloss_dcos([0.9, 0.3], [2, 0])
    far, _ = dloss_dcos([0.9, 0.6], [2, 0])
    assert far[1] > near[1] > 0


def test_hand_computed_value_for_one_boundary():
    # one exact (s=0.7) and one irrelevant (s=0.2); boundary 2 has no negatives of grade 1 only,
    # boundaries: partial c=0.35 m=0.1, exact c=0.6 m=0.1, gamma=10
    s_p, s_n, gamma = 0.7, 0.2, 10.0
    expected = 0.0
    for c, m in ((0.35, 0.1), (0.6, 0.1)):
        a_p, a_n = max(c + 3 * m - s_p, 0), max(s_n - (c - 3 * m), 0)
        expected += math.log1p(math.exp(gamma * a_n * (s_n - (c - m))) * math.exp(-gamma * a_p * (s_p - (c + m))))
    expected /= 2
    _, value = dloss_dcos([s_p, s_n], [2, 0], gamma=gamma)
    assert value == pytest.approx(expected, rel=1e-5)


def test_centers_must_increase():
    with pytest.raises(ValueError):
        graded_circle_loss(torch.randn(1, 2), torch.randn(2, 2), torch.tensor([[2, 0]]), centers=(0.6, 0.3))
