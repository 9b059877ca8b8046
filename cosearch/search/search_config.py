"""``config.search`` read into :class:`cosearch.search.settings.SearchSettings`:
the budgets and pace, the accuracy signal and successive halving, each field
checked, with one-line errors naming it."""

from __future__ import annotations

from cosearch.child import scores as scores_lib
from cosearch.policy import signal as signal_lib
from cosearch.search.config_checks import (
    choice,
    field_error,
    finite,
    integer,
    value_at,
)
from cosearch.search.settings import RUNG_MEASURES, Halving, SearchSettings


def search_settings(c) -> SearchSettings:
    """``config.search``, each field checked (one-line errors naming it)."""

    def number(name: str, lowest: float) -> float:
        value = finite(c, f"search.{name}")
        if value < lowest:
            raise field_error(f"search.{name}", f"must be >= {lowest:g}, got {value:g}")
        return value

    def count(name: str, lowest: int) -> int:
        value = number(name, lowest)
        if value != int(value):
            raise field_error(
                f"search.{name}", f"must be a whole number, got {value:g}"
            )
        return int(value)

    episodes = count("episodes", 0)
    max_children = count("max_children", 0)
    max_images = count("max_train_images", 0)
    max_wall_s = number("max_wall_s", 0.0)
    if not (episodes or max_children or max_images or max_wall_s):
        raise field_error(
            "search",
            "no budget: set episodes, max_children, max_train_images or max_wall_s "
            "(0 = no limit; at least one must be set)",
        )
    signal = _accuracy_signal(c)
    return SearchSettings(
        episodes=episodes or None,
        candidates=count("candidates_per_episode", 1),
        children_per_episode=count("children_per_episode", 1),
        max_children=max_children or None,
        max_train_images=max_images or None,
        max_wall_s=max_wall_s or None,
        max_idle_episodes=count("max_idle_episodes", 1),
        checkpoint_every=count("checkpoint_every", 1),
        opt_hw_margin=number("opt_hw_margin", 0.0),
        accuracy_signal=signal,
        signal_rho=_rho(c),
        halving=_halving(c),
        warm_episodes=_warm_episodes(count("warm_episodes", 0), signal),
    )


def _warm_episodes(warm: int, signal: str) -> int:
    """``search.warm_episodes``, refused with the predictor as the signal."""
    if warm and signal == signal_lib.PREDICTOR:
        raise field_error(
            "search.warm_episodes",
            f"{warm} warm-up episodes need a training-free search.accuracy_signal "
            f"(the {signal_lib.PREDICTOR!r} has nothing before the first child)",
        )
    return warm


def _halving(c) -> Halving | None:
    """``search.rung_steps`` / ``halving_rate`` / ``rung_measure``, checked
    (the rungs against the proxy's steps)."""
    rate = integer(c, "search.halving_rate")
    if rate < 2:
        raise field_error("search.halving_rate", f"must be >= 2, got {rate}")
    measure = choice(c, "search.rung_measure", c.search.rung_measure, RUNG_MEASURES)
    steps = value_at(c, "search.rung_steps")
    try:
        rungs = tuple(int(v) for v in steps)
        if any(float(v) != int(v) for v in steps):
            raise ValueError
    except (TypeError, ValueError):
        raise field_error(
            "search.rung_steps", f"expected whole numbers of steps, got {steps!r}"
        ) from None
    if not rungs:
        return None
    if any(v < 1 for v in rungs) or list(rungs) != sorted(set(rungs)):
        raise field_error(
            "search.rung_steps", f"must be increasing and >= 1, got {list(rungs)}"
        )
    proxy = c.train.get("steps") or 0
    if proxy and rungs[-1] >= proxy:
        raise field_error(
            "search.rung_steps",
            f"must stay below the proxy's {proxy} steps (train.steps), got "
            f"{list(rungs)}",
        )
    return Halving(rungs, rate, measure)


def _accuracy_signal(c) -> str:
    name = str(value_at(c, "search.accuracy_signal"))
    try:
        names = signal_lib.parse(name)
    except ValueError as e:
        raise field_error(
            "search.accuracy_signal", f"{e} (or {signal_lib.PREDICTOR!r})"
        ) from None
    network = [n for n in names if n in scores_lib.NETWORK_SCORES]
    kernels = tuple(int(k) for k in c.space.kernels)
    if network and any(k % 2 == 0 for k in kernels):
        raise field_error(
            "search.accuracy_signal",
            f"{', '.join(network)} need odd kernels (centred in the padded "
            f"window), got {kernels}",
        )
    return name


def _rho(c) -> float:
    rho = finite(c, "search.signal_rho")
    if not 0.0 <= rho <= 1.0:
        raise field_error("search.signal_rho", f"must be in [0, 1], got {rho:g}")
    return rho
