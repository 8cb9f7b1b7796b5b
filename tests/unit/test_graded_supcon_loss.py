"""Gradient directions of the graded SupCon loss on hand-made embeddings."""

from __future__ import annotations

import math

import torch

from trainer.losses.graded_batch import first_occurrence
from trainer.losses.graded_supcon import graded_supcon_loss


def grads_wrt_cosines(cos: list[list[float]], grades: list[list[int]], **kw):
    """Use 2-d unit vectors so each product's cosine to the query is set directly by its angle."""
    angles = torch.tensor([[math.acos(c) for c in row] for row in cos], requires_grad=True)
    q = torch.tensor([[1.0, 0.0]] * len(cos))
    loss_total = 0
    for i in range(len(cos)):
        p = torch.stack([torch.cos(angles[i]), torch.sin(angles[i])], dim=1)
        g = torch.tensor([grades[i]])
        loss_total = loss_total + graded_supcon_loss(q[i : i + 1], p, g, temperature=0.1)
    loss_total.backward()
    # d loss / d cos = d loss / d angle * d angle / d cos, with d angle / d cos = -1/sin(angle) < 0
    return (angles.grad * (-1.0 / torch.sin(angles.detach()))).tolist()[0], float(loss_total.detach())


def test_exact_pulled_up_partial_and_irrelevant_pushed_below_exact():
    grads, _ = grads_wrt_cosines([[0.3, 0.5, 0.4]], [[2, 1, 0]])
    d_exact, d_partial, d_irrelevant = grads
    assert d_exact < 0  # raising the exact product's cosine lowers the loss
    assert d_irrelevant > 0  # the irrelevant product should go down
    # partial is a negative of the exact anchor and a positive of its own: with partial_weight 0.5
    # and the partial far above the exact product, the push-down dominates
    assert d_partial > 0


def test_partial_is_pulled_above_irrelevant_when_no_exact_present():
    grads, _ = grads_wrt_cosines([[0.2, 0.6]], [[1, 0]])
    assert grads[0] < 0 and grads[1] > 0


def test_partial_weight_zero_makes_partial_only_a_negative():
    angles = torch.tensor([math.acos(0.5), math.acos(0.5)], requires_grad=True)
    p = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    loss = graded_supcon_loss(torch.tensor([[1.0, 0.0]]), p, torch.tensor([[2, 1]]), partial_weight=0.0)
    loss.backward()
    # only the exact anchor counts; it pushes the partial product down, so its angle should grow
    assert angles.grad[1] < 0


def test_loss_is_lower_when_grades_are_ordered():
    q = torch.tensor([[1.0, 0.0]])
    good = torch.tensor([[0.9, math.sqrt(1 - 0.81)], [0.5, math.sqrt(0.75)], [0.0, 1.0]])
    bad = good.flip(0)
    grades = torch.tensor([[2, 1, 0]])
    assert graded_supcon_loss(q, good, grades) < graded_supcon_loss(q, bad, grades)


def test_unjudged_products_count_as_irrelevant_and_no_positive_means_zero_loss():
    q = torch.nn.functional.normalize(torch.randn(1, 4), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    a = graded_supcon_loss(q, p, torch.tensor([[2, -1, -1]]))
    b = graded_supcon_loss(q, p, torch.tensor([[2, 0, 0]]))
    assert torch.allclose(a, b)
    assert graded_supcon_loss(q, p, torch.tensor([[0, 0, -1]])) == 0


def test_first_occurrence_keeps_order():
    ids = torch.tensor([7, 7, 3, 3, 3, 9, 7])
    unique, first = first_occurrence(ids)
    assert unique.tolist() == [7, 3, 9] and first.tolist() == [0, 2, 5]


def test_partial_negative_weight_softens_the_push_on_partials():
    def partial_grad(weight):
        angles = torch.tensor([math.acos(0.5), math.acos(0.6)], requires_grad=True)
        p = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        graded_supcon_loss(torch.tensor([[1.0, 0.0]]), p, torch.tensor([[2, 1]]), temperature=0.1,
                           partial_weight=0.0, partial_negative_weight=weight).backward()
        return float(angles.grad[1])  # d loss / d angle of the partial: negative = pushed away

    assert partial_grad(1.0) < partial_grad(0.25) < 0
    assert partial_grad(0.0) == 0.0


def test_symmetric_direction_pulls_the_query_to_its_product():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1).requires_grad_(True)
    p = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    grades = torch.tensor([[2, -1], [-1, 2]])
    loss = graded_supcon_loss(q, p, grades, symmetric=True)
    loss.backward()
    # moving query 0 along -grad raises its cosine with its own product 0
    step = torch.nn.functional.normalize(q.detach() - 0.01 * q.grad, dim=-1)
    assert float(step[0] @ p[0]) > float(q.detach()[0] @ p[0])
    assert graded_supcon_loss(q.detach(), p, grades, symmetric=True) > 0
    # with one query per product and no other query, both directions agree
    single = graded_supcon_loss(q.detach()[:1], p[:1], torch.tensor([[2]]), symmetric=True)
    assert float(single) == 0.0


def test_graded_batch_encodes_each_query_once_and_marks_other_queries_unjudged():
    from trainer.losses.graded_batch import encode_graded_batch

    calls = []

    class Echo(torch.nn.Module):
        def forward(self, features):
            calls.append(features["input_ids"].shape[0])
            return {"sentence_embedding": features["input_ids"].float()}

    queries = {"input_ids": torch.tensor([[1, 0], [1, 0], [2, 0]]), "attention_mask": torch.ones(3, 2)}
    products = {"input_ids": torch.tensor([[5, 1], [6, 1], [7, 1]]), "attention_mask": torch.ones(3, 2)}
    labels = torch.tensor([[10, 2], [10, 0], [11, 1]])
    q, p, grades = encode_graded_batch(Echo(), [queries, products], labels)
    assert calls == [2, 3] and q.shape == (2, 2) and p.shape == (3, 2)
    assert grades.tolist() == [[2, 0, -1], [-1, -1, 1]]


def test_groups_of_one_query_in_a_batch_are_merged_by_query_id():
    """Labels ``[query_id, grade, group_id]`` (products split into groups): two groups of query 10 in
    the same batch are one query with all of its products, not each other's negatives."""
    from trainer.losses.graded_batch import encode_graded_batch

    class Echo(torch.nn.Module):
        def forward(self, features):
            return {"sentence_embedding": features["input_ids"].float()}

    queries = {"input_ids": torch.tensor([[1, 0], [1, 0], [2, 0], [1, 0]]), "attention_mask": torch.ones(4, 2)}
    products = {"input_ids": torch.tensor([[5, 1], [6, 1], [7, 1], [8, 1]]), "attention_mask": torch.ones(4, 2)}
    labels = torch.tensor([[10, 2, 0], [10, 0, 0], [11, 1, 1], [10, 2, 2]])
    q, p, grades = encode_graded_batch(Echo(), [queries, products], labels)
    assert q.shape == (2, 2) and p.shape == (4, 2)
    assert grades.tolist() == [[2, 0, -1, 2], [-1, -1, 1, -1]]


def _irrelevant_grads(weight: float) -> tuple[float, float, float]:
    """d loss / d cos of (partial anchor, judged irrelevant, unjudged in-batch product), equal cosines
    of the two negatives so only their kind differs."""
    cos = torch.tensor([0.6, 0.4, 0.4], requires_grad=True)
    sin = torch.sqrt(1 - cos**2)
    p = torch.stack([cos, sin], dim=1)
    graded_supcon_loss(torch.tensor([[1.0, 0.0]]), p, torch.tensor([[1, 0, -1]]), temperature=0.1,
                       irrelevant_negative_weight=weight).backward()
    return tuple(float(g) for g in cos.grad)


def test_irrelevant_negative_weight_pushes_judged_irrelevant_harder_than_unjudged():
    d_anchor, d_judged, d_unjudged = _irrelevant_grads(3.0)
    assert d_anchor < 0  # the partial anchor is pulled up
    assert d_judged > d_unjudged > 0  # both pushed down, the judged irrelevant product harder
    # the weight v multiplies the judged product's share of the softmax: at equal cosines its push is v times
    assert math.isclose(d_judged / d_unjudged, 3.0, rel_tol=1e-5)
    # with weight 1 the two kinds are the same negative
    _, j1, u1 = _irrelevant_grads(1.0)
    assert math.isclose(j1, u1, rel_tol=1e-6)
    # and a stronger weight pulls the anchor harder
    assert _irrelevant_grads(3.0)[0] < _irrelevant_grads(1.0)[0]


def test_irrelevant_negative_weight_formula_on_one_anchor():
    """l = -log e^{s_p} / (e^{s_p} + v e^{s_j} + e^{s_u}), s = cos / tau."""
    q = torch.tensor([[1.0, 0.0]])
    cos = [0.7, 0.5, 0.2]
    p = torch.tensor([[c, math.sqrt(1 - c * c)] for c in cos])
    tau, v = 0.1, 2.5
    got = graded_supcon_loss(q, p, torch.tensor([[2, 0, -1]]), temperature=tau, irrelevant_negative_weight=v)
    s = [c / tau for c in cos]
    want = -math.log(math.exp(s[0]) / (math.exp(s[0]) + v * math.exp(s[1]) + math.exp(s[2])))
    assert math.isclose(float(got), want, rel_tol=1e-5)


def test_irrelevant_negative_weight_must_be_positive():
    import pytest

    q = torch.tensor([[1.0, 0.0]])
    with pytest.raises(ValueError, match="irrelevant_negative_weight"):
        graded_supcon_loss(q, q, torch.tensor([[2]]), irrelevant_negative_weight=0.0)
