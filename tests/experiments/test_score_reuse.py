"""experiments.score_fidelity --reuse: an earlier run's scores, checked."""

import json

import numpy as np
import pytest

from experiments.common import UsageError
from experiments.scoring import reused_scores

ARCHS = ["3,24,1;1,36,1", "5,48,1;3,24,1"]
TIMING = {"first_pass_s": 2.0, "ms_per_arch": 40.0, "kind": "network"}


def _earlier(tmp_path, values, images=16, key_seed=0):
    path = tmp_path / "old.json"
    path.write_text(
        json.dumps(
            {
                "images": images,
                "key_seed": key_seed,
                "values": values,
                "training_free": {name: dict(TIMING) for name in values},
            }
        )
    )
    return str(path)


def test_held_scores_are_reused_in_the_sets_order(tmp_path):
    path = _earlier(tmp_path, {"synflow": {ARCHS[1]: 2.5, ARCHS[0]: 1.5, "x": 9.0}})
    values, timing = reused_scores(path, ARCHS, ["synflow", "naswot"], 16, 0)
    assert list(values) == ["synflow"]  # naswot is computed, not reused
    np.testing.assert_array_equal(values["synflow"], [1.5, 2.5])
    assert timing["synflow"] == TIMING


@pytest.mark.parametrize(
    "values, images, key_seed, match",
    [
        ({"synflow": {ARCHS[0]: 1.0}}, 16, 0, "lacks 1 architecture"),
        ({"synflow": {a: 1.0 for a in ARCHS}}, 32, 0, "scored on 16 images"),
        ({"synflow": {a: 1.0 for a in ARCHS}}, 16, 1, "with key 0"),
    ],
)
def test_another_set_images_or_key_are_refused(
    tmp_path, values, images, key_seed, match
):
    path = _earlier(tmp_path, values)
    with pytest.raises(UsageError, match=match):
        reused_scores(path, ARCHS, ["synflow"], images, key_seed)


def test_a_file_of_something_else_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"what": "else"}')
    with pytest.raises(UsageError, match="not a score_fidelity result"):
        reused_scores(str(path), ARCHS, ["synflow"], 16, 0)
