"""The smallest search the end-to-end tests run."""

from experiments.configs import default

# Overrides of the ``default.py:smoke`` config: 2-layer children on 8x8
# synthetic data; about half of the candidates pruned by the spec.
TINY = {
    "space.depth": 2,
    "search.episodes": 3,
    "search.max_children": 0,
    "search.candidates_per_episode": 3,
    "search.children_per_episode": 3,
    "specs.min_fps": 30000.0,
    "reward.eff_hi": 300000.0,
    "train.steps": 4,
    "train.batch_size": 32,
    "train.eval_batch_size": 128,
    # No final phase unless a test asks for one (tests/final).
    "final.max_designs": 0,
    "final.steps": 3,
    "final.warmup_steps": 0,
}


def tiny(**overrides):
    """The tiny config; ``overrides`` as ``{"search.episodes": 2}`` keywords
    (dots as in the config, e.g. ``tiny(**{"search.episodes": 2})``)."""
    c = default.get_config("smoke")
    for key, value in {**TINY, **overrides}.items():
        node = c
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c


def tiny_flags(**overrides) -> list[str]:
    """The tiny config as ``experiments.search`` flags."""
    flags = ["--config=experiments/configs/default.py:smoke"]
    for key, value in {**TINY, **overrides}.items():
        flags.append(f"--config.{key}={value}")
    return flags
