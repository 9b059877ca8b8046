"""Training-free scores: their definitions on plain networks, hand-checked
values, padded = plain, batched = one by one, training images only."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosearch import data
from cosearch.child import scores
from cosearch.child.network import count_params
from cosearch.hardware.architecture import Architecture

KMAX, CMAX = 5, 12
ARCHS = [
    Architecture.parse(t)
    for t in ("3,8,1;5,12,1;1,4,1", "1,4,1;3,4,1;5,8,1", "5,12,1;1,12,1;3,8,2")
]
ALL = tuple(scores.SCORES)
NET = scores.NETWORK_SCORES


@pytest.fixture(scope="module")
def synthetic():
    return data.load("synthetic", seed=0)


def _plain(arch, padded_params, in_channels, kmax=KMAX, cmax=CMAX):
    """The child's own (unpadded) weights and all-ones masks, sliced from a
    padded network's weights."""
    kernels, masks_, ci = [], [], in_channels
    for (k, f, _), w in zip(arch.layers, padded_params["kernels"], strict=True):
        off = (kmax - k) // 2
        kernels.append(w[off : off + k, off : off + k, :ci, :f])
        masks_.append(jnp.ones((k, k, ci, f), jnp.float32))
        ci = f
    positions = padded_params["head"].shape[0] // cmax
    head = padded_params["head"].reshape(positions, cmax, -1)[:, :ci]
    params = {
        "kernels": kernels,
        "biases": [jnp.zeros((f,), jnp.float32) for _, f, _ in arch.layers],
        "head": head.reshape(positions * ci, -1),
        "head_bias": padded_params["head_bias"],
    }
    return params, tuple(masks_)


def test_padded_network_scores_equal_the_plain_network(synthetic):
    x, y = scores.score_images(synthetic, 16, jax.random.key(1))
    shape = synthetic.input_shape
    for arch in ARCHS:
        strides = tuple(s for _, _, s in arch.layers)
        m = scores.masks(arch, shape[2], KMAX, CMAX)
        positions = scores.head_inputs(strides, shape, "flatten")
        params = scores.init_params(jax.random.key(2), m, positions, 4)
        padded = scores.network_scores(params, m, x, y, strides, "flatten", NET)
        own, ones = _plain(arch, params, shape[2])
        plain = scores.network_scores(own, ones, x, y, strides, "flatten", NET)
        for name in NET:
            np.testing.assert_allclose(
                padded[name], plain[name], rtol=2e-4, err_msg=name
            )


def test_synflow_is_the_summed_flow_through_a_tiny_network():
    """One 1x1 layer (2 -> 1 channels) and a 1-input head on a 1x1 image of
    ones, no BatchNorm: R = |h| (|a| + |b|), and each layer's sum of
    |w dR/dw| is R, so synflow = log(2 R)."""
    a, b, h = 0.5, -2.0, 3.0
    params = {
        "kernels": [jnp.array([[[[a], [b]]]], jnp.float32)],
        "biases": [jnp.zeros((1,), jnp.float32)],
        "head": jnp.array([[h]], jnp.float32),
        "head_bias": jnp.zeros((1,), jnp.float32),
    }
    ones = (jnp.ones((1, 1, 2, 1), jnp.float32),)
    x = jnp.zeros((3, 1, 1, 2), jnp.float32)  # only its shape is read
    out = scores.network_scores(
        params, ones, x, jnp.zeros(3, jnp.int32), (1,), "gap", ("synflow",)
    )
    r = abs(h) * (abs(a) + abs(b))
    assert float(out["synflow"]) == pytest.approx(math.log(2 * r), rel=1e-6)


def _naswot_numpy(codes: list[np.ndarray]) -> float:
    k = sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes)
    return float(np.linalg.slogdet(k)[1])


def _jacob_numpy(jac: np.ndarray) -> float:
    eig = np.linalg.eigvalsh(np.corrcoef(jac))
    return float(-np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5)))


def test_naswot_jacob_cov_and_grad_norm_against_numpy(synthetic):
    """On a plain 2-layer network: the ReLU codes, the input Jacobian and the
    loss gradient taken with JAX, the scores' formulas in NumPy."""
    arch = Architecture.parse("3,4,1;1,3,1")
    shape, strides = synthetic.input_shape, (1, 1)
    m = scores.masks(arch, shape[2], 3, 4)
    params = scores.init_params(jax.random.key(5), m, 1, 4)
    x, y = scores.score_images(synthetic, 12, jax.random.key(6))

    # The plain network by hand: conv -> relu -> batch norm, twice; gap head;
    # batch norm with the batch's statistics, or as at initialisation.
    def forward(p, xx, batch=True):
        codes = []
        for w, b in zip(p["kernels"], p["biases"], strict=True):
            pre = (
                jax.lax.conv_general_dilated(
                    xx, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
                )
                + b
            )
            codes.append(np.asarray(pre > 0, np.float64).reshape(len(xx), -1))
            h = jax.nn.relu(pre)
            if batch:
                xx = (h - h.mean((0, 1, 2))) / jnp.sqrt(h.var((0, 1, 2)) + 1e-3)
            else:
                xx = h / jnp.sqrt(1.0 + 1e-3)
        return xx.mean((1, 2)) @ p["head"] + p["head_bias"], codes

    own = _plain(arch, params, shape[2], 3, 4)[0]
    own_masks = tuple(jnp.ones(w.shape, jnp.float32) for w in own["kernels"])
    got = scores.network_scores(own, own_masks, x, y, strides, "gap", NET)
    _, codes = forward(own, x)
    assert float(got["naswot"]) == pytest.approx(_naswot_numpy(codes), rel=1e-5)
    jac = jax.grad(lambda xx: forward(own, xx, False)[0].sum())(x)
    jac = jac.reshape(len(x), -1)
    want = _jacob_numpy(np.asarray(jac, np.float64))
    assert float(got["jacob_cov"]) == pytest.approx(want, rel=1e-4)

    def loss(p):
        logp = jax.nn.log_softmax(forward(p, x)[0])
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    g = jax.grad(loss)(own)
    want = sum(np.linalg.norm(np.asarray(w)) for w in [*g["kernels"], g["head"]])
    assert float(got["grad_norm"]) == pytest.approx(want, rel=1e-4)


def test_batched_scores_equal_one_by_one(synthetic):
    scorer = scores.Scorer(KMAX, CMAX, chunk=2)
    key = jax.random.key(7)
    together = scorer.score(ARCHS, synthetic, key, ALL, images=8, head="flatten")
    for i, arch in enumerate(ARCHS):
        alone = scorer.score([arch], synthetic, key, ALL, images=8, head="flatten")
        for name in ALL:
            np.testing.assert_allclose(together[name][i], alone[name][0], rtol=1e-4)
    # Structural scores by hand for the first architecture.
    a = ARCHS[0]
    assert together["receptive_field"][0] == 1 + 2 + 4 + 0
    assert together["deep_layers"][0] == 2
    assert together["log_macs"][0] == pytest.approx(math.log(a.macs((8, 8, 1))))
    n = count_params(a, (8, 8, 1), 4, "flatten")
    assert together["log_params"][0] == pytest.approx(math.log(n))
    # A second call of the same shapes compiles nothing.
    traced = scorer.trace_count
    scorer.score(ARCHS[::-1], synthetic, key, ALL, images=8, head="flatten")
    assert scorer.trace_count == traced


def test_only_training_images_are_read(synthetic):
    """Validation and test images poisoned with NaN: every score is finite
    and unchanged."""
    val = synthetic.val
    nan = data.Split(np.full_like(val.images, np.nan), val.labels, val.index)
    poisoned = synthetic._replace(val=nan, test=nan)
    scorer = scores.Scorer(KMAX, CMAX)
    key = jax.random.key(8)
    clean = scorer.score(ARCHS, synthetic, key, ALL, images=8)
    dirty = scorer.score(ARCHS, poisoned, key, ALL, images=8)
    for name in ALL:
        assert np.isfinite(dirty[name]).all(), name
        np.testing.assert_array_equal(clean[name], dirty[name])


def test_unknown_scores_and_bad_settings_are_refused(synthetic):
    with pytest.raises(ValueError, match="unknown training-free score.*synflow"):
        scores.check_names(["synflow", "nosuch"])
    with pytest.raises(ValueError, match="unknown"):
        scores.check_names([])
    with pytest.raises(ValueError, match="odd"):
        scores.Scorer(4, 8)
    with pytest.raises(ValueError, match="training split has"):
        scores.score_images(synthetic, 10**6, jax.random.key(0))
