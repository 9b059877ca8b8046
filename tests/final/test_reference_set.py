"""Reference sets: accuracies from runs, rank agreement, percentile, file."""

import itertools
import json

import numpy as np
import pytest

from cosearch.final import reference

ARCHS = ["1,24,1", "3,24,1", "5,24,1", "7,24,1"]
DRAWN = {"space": {"depth": 1}, "platform": "mixed4", "specs": {"min_fps": 1000.0}}


def _runs():
    acc = {"1,24,1": (0.70, 0.72), "3,24,1": (0.80, 0.78), "5,24,1": (0.85, 0.87)}
    runs = [
        {"architecture": a, "seed": s, "test_accuracy": v, "failed": False}
        for a, pair in acc.items()
        for s, v in enumerate(pair)
    ]
    # 7,24,1: one seed failed (counts as 0), the other not trained yet.
    runs.append(
        {"architecture": "7,24,1", "seed": 0, "test_accuracy": 0.9, "failed": True}
    )
    # An architecture outside the set is left out.
    runs.append(
        {"architecture": "9,9,1", "seed": 0, "test_accuracy": 0.5, "failed": False}
    )
    return runs


def test_accuracies_from_runs():
    ref = reference.from_runs(_runs(), ARCHS, [0, 1], DRAWN, {"steps": 3})
    np.testing.assert_array_equal(
        ref.accuracy,
        [[0.70, 0.72], [0.80, 0.78], [0.85, 0.87], [0.0, np.nan]],
    )
    assert list(ref.complete) == [True, True, True, False]
    np.testing.assert_allclose(ref.mean()[:3], [0.71, 0.79, 0.86])
    assert np.isnan(ref.mean()[3])


def test_tau_top_hits_and_percentile():
    ref = reference.from_runs(_runs(), ARCHS, [0, 1], DRAWN, {})
    # A score ordered as the accuracies: tau 1; reversed: -1; the incomplete
    # architecture is left out whatever its score.
    assert ref.tau([1.0, 2.0, 3.0, -50.0]) == pytest.approx(1.0)
    assert ref.tau([3.0, 2.0, 1.0, 99.0]) == pytest.approx(-1.0)
    # Top third of 3 complete architectures: round(0.33 * 3) = 1 item.
    assert ref.top_hits([1.0, 2.0, 3.0, 0.0], fraction=1 / 3) == 1.0
    assert ref.top_hits([3.0, 2.0, 1.0, 0.0], fraction=1 / 3) == 0.0
    # Share of the 3 complete means below: 0.71 < 0.75 < 0.79 < 0.86.
    assert ref.percentile(0.75) == pytest.approx(1 / 3)
    assert ref.percentile(0.90) == 1.0
    assert ref.percentile(0.79) == pytest.approx(1.5 / 3)  # equal counts half


def test_summary_and_file_round_trip(tmp_path):
    ref = reference.from_runs(_runs(), ARCHS, [0, 1], DRAWN, {"steps": 3})
    s = ref.summary()
    assert (s["architectures"], s["complete"], s["runs"]) == (4, 3, 7)
    assert s["accuracy_range"] == pytest.approx([0.71, 0.86])
    # Seeds agree on the order of the 3 complete architectures.
    assert s["tau_between_seeds"] == [pytest.approx(1.0)]
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(reference.to_json(ref, {"draw": {"arch_seed": 1}})))
    back = reference.read(str(path))
    assert back.architectures == ref.architectures and back.seeds == (0, 1)
    np.testing.assert_array_equal(back.accuracy, ref.accuracy)
    assert back.drawn_for == DRAWN and back.settings == {"steps": 3}


def test_a_set_of_another_space_or_platform_is_refused():
    ref = reference.from_runs(_runs(), ARCHS, [0, 1], DRAWN, {})
    ref.check_drawn_for(dict(DRAWN))
    with pytest.raises(reference.ReferenceSetError, match="another platform"):
        ref.check_drawn_for({**DRAWN, "platform": "zcu102x2"}, "r.json")
    with pytest.raises(reference.ReferenceSetError, match="another space"):
        ref.check_drawn_for({**DRAWN, "space": {"depth": 2}})


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "no such file"),
        ("{not json", "cannot read"),
        ('{"format": "other"}', "not a reference set"),
        ('{"format": "cosearch.reference_set/1", "seeds": [0]}', "malformed"),
    ],
)
def test_bad_files_end_in_one_line(tmp_path, content, match):
    path = tmp_path / "ref.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(reference.ReferenceSetError, match=match) as err:
        reference.read(str(path))
    assert "\n" not in str(err.value)


def test_agreement_names_a_score_that_is_size_in_disguise():
    """Eight architectures whose accuracy rises with MACs across bins and
    falls within them: MACs itself ranks well overall (tau > 0) but inside
    each MACs bin it ranks backwards; a score ordered as accuracy ranks
    well in both."""
    archs = [f"{k},24,1" for k in range(1, 9)]
    macs = np.arange(8.0)  # bins of 2: (0,1) (2,3) (4,5) (6,7)
    acc = np.array([0.72, 0.70, 0.76, 0.74, 0.80, 0.78, 0.84, 0.82])
    runs = [
        {"architecture": a, "seed": s, "test_accuracy": v, "failed": False}
        for a, v in zip(archs, acc, strict=True)
        for s in (0, 1)
    ]
    ref = reference.from_runs(runs, archs, [0, 1], DRAWN, {})
    size = ref.agreement(macs, macs, fraction=0.25, bins=4)
    assert size["tau"] > 0.5 and size["tau_with_macs"] == pytest.approx(1.0)
    assert size["tau_within_macs_bins"] == pytest.approx(-1.0)
    exact = ref.agreement(acc, macs, fraction=0.25, bins=4)
    assert exact["tau"] == pytest.approx(1.0) and exact["top_hits"] == 1.0
    assert exact["tau_within_macs_bins"] == pytest.approx(1.0)
    assert exact["architectures"] == 8


def test_ties_non_finite_scores_and_nan_accuracies():
    """A constant score finds the top by chance (its share), not by its
    position; infinite scores are left out of tau; no percentile of NaN."""
    archs = [f"{k},24,1" for k in range(1, 11)]
    runs = [
        {"architecture": a, "seed": s, "test_accuracy": 0.7 + 0.01 * i,
         "failed": False}
        for i, a in enumerate(archs)
        for s in (0, 1)
    ]  # fmt: skip
    ref = reference.from_runs(runs, archs, [0, 1], DRAWN, {})
    assert ref.top_hits(np.zeros(10), fraction=0.2) == pytest.approx(0.2)
    scores = np.arange(10.0)
    scores[0] = -np.inf  # the least accurate, as a log det of a singular kernel
    assert ref.tau(scores) == pytest.approx(1.0)
    assert np.isnan(ref.percentile(float("nan")))
    # The measured runs come back as records that rebuild the same set.
    again = reference.from_runs(ref.runs(), archs, [0, 1], DRAWN, {})
    np.testing.assert_array_equal(again.accuracy, ref.accuracy)


def _brute_pick(acc, scores, k):
    """The pick percentile by enumerating every draw of k and every order of
    the tied best-scored (each equally likely)."""
    n = len(acc)
    pct = [
        (sum(b < a for b in acc) + 0.5 * (sum(b == a for b in acc) - 1)) / (n - 1)
        for a in acc
    ]
    total = []
    for draw in itertools.combinations(range(n), k):
        top = max(scores[i] for i in draw)
        tied = [i for i in draw if scores[i] == top]
        total.append(np.mean([pct[i] for i in tied]))
    return float(np.mean(total))


def test_pick_percentile_is_exact_with_ties():
    archs = [f"{k},24,1" for k in range(7)]
    acc = [0.80, 0.82, 0.82, 0.85, 0.70, 0.90, 0.75]
    runs = [
        {"architecture": a, "seed": s, "test_accuracy": v, "failed": False}
        for a, v in zip(archs, acc, strict=True)
        for s in (0, 1)
    ]
    ref = reference.from_runs(runs, archs, [0, 1], DRAWN, {})
    cases = {
        "ordered": [0.0, 1.0, 1.0, 2.0, -1.0, 3.0, -0.5],
        "tied": [1.0, 1.0, 2.0, 2.0, 0.0, 1.0, 2.0],
        "reversed": [-a for a in acc],
        "constant": [5.0] * 7,
    }
    for name, scores in cases.items():
        for k in (1, 2, 3, 7):
            want = _brute_pick(acc, scores, k)
            assert ref.pick_percentile(scores, k) == pytest.approx(want), (name, k)
    # A score ordered as the accuracies always picks the best of the draw;
    # k = 1 or a constant score picks at random: 0.5.
    assert ref.pick_percentile(cases["ordered"], 7) == pytest.approx(1.0)
    assert ref.pick_percentile(cases["reversed"], 7) == pytest.approx(0.0)
    assert ref.pick_percentile(cases["ordered"], 1) == pytest.approx(0.5)
    assert ref.pick_percentile(cases["constant"], 4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="k must be in 1..7"):
        ref.pick_percentile(cases["ordered"], 8)
    # In agreement(): each draw size the set can make.
    row = ref.agreement(cases["ordered"], macs=list(range(7)), picks=(2, 8))
    assert set(row["pick_percentile"]) == {"2"}
