"""The online accuracy predictor (cosearch.policy.predictor)."""

import numpy as np

from cosearch.hardware.architecture import Architecture
from cosearch.policy import predictor

INPUT = (28, 28, 1)


def _archs(count, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        layers = tuple(
            (
                int(rng.choice([1, 3, 5, 7])),
                int(rng.choice([24, 36, 48, 64])),
                int(rng.choice([1, 2])),
            )
            for _ in range(4)
        )
        arch = Architecture(layers)
        if arch not in out:
            out.append(arch)
    return out


def test_features_grow_with_size():
    small = Architecture.parse("1,24,2;1,24,2")
    large = Architecture.parse("7,64,1;7,64,1")
    fs, fl = predictor.features(small, INPUT), predictor.features(large, INPUT)
    # MACs, parameters, head inputs, receptive field, filters all larger.
    assert np.all(fl > fs)


def test_fit_recovers_a_size_trend_and_ranks_unseen_architectures():
    archs = _archs(40)
    # Accuracy rises with log MACs (a made-up but typical trend).
    truth = {str(a): 0.5 + 0.02 * predictor.features(a, INPUT)[0] for a in archs}
    seen = dict(list(truth.items())[:20])
    model = predictor.fit(seen, INPUT)
    unseen = archs[20:]
    pred = model.predict(unseen)
    want = np.array([truth[str(a)] for a in unseen])
    assert np.corrcoef(pred, want)[0, 1] > 0.95
    assert model.points == 20


def test_too_few_points_predict_the_mean_and_order_does_not_matter():
    archs = _archs(6)
    few = {str(a): v for a, v in zip(archs[:3], (0.7, 0.8, 0.9), strict=True)}
    model = predictor.fit(few, INPUT, min_points=4)
    assert np.allclose(model.predict(archs), 0.8)
    assert np.allclose(predictor.fit({}, INPUT, prior=0.6).predict(archs), 0.6)
    many = {str(a): 0.6 + 0.05 * i for i, a in enumerate(archs)}
    backwards = dict(reversed(list(many.items())))
    a = predictor.fit(many, INPUT).predict(archs)
    b = predictor.fit(backwards, INPUT).predict(archs)
    assert np.array_equal(a, b)
