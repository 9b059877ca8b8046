"""The search strategies, in one table (docs/design.md sections 1, 5, 6).

:data:`STRATEGIES` maps each strategy's name to its :class:`Strategy`: the
episode it runs, whether its controller samples architectures only, the
hardware it fixes before the search, and the config fields only it reads.
The accepted names, the dispatch and the resume fingerprint all come from
this table; a new strategy is one entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cosearch.hardware.design import Design
from cosearch.search import architecture_only, proposals
from cosearch.search.config_checks import field_error
from cosearch.search.episode import Context, Outcome
from cosearch.search.fixed_design import fixed_design
from cosearch.search.settings import Setup

# (ctx, controller params, key, episode, children budget or None) -> Outcome
Episode = Callable[[Context, object, object, int, "int | None"], Outcome]


@dataclasses.dataclass(frozen=True)
class Strategy:
    """One search strategy.

    Attributes:
      episode: runs one episode (``key`` consumed).
      architecture_only: the controller samples architecture tokens only
        (the hardware is fixed, or chosen after training).
      prepare: makes the hardware it fixes before the search, from the
        setup (a user error raised there stops the run before it starts);
        None: it fixes none.
      config_fields: dotted config fields only this strategy reads (a run
        of another strategy may be resumed with them changed).
    """

    episode: Episode
    architecture_only: bool
    prepare: Callable[[Setup], Design] | None = None
    config_fields: tuple[str, ...] = ()


# The accuracy signal and successive halving: read by the strategies that
# propose architecture + hardware pairs.
SIGNAL_FIELDS = ("search.accuracy_signal", "search.signal_rho")
# Episodes of the controller on the signal alone: read by coexplore only.
WARM_FIELD = "search.warm_episodes"
HALVING_FIELDS = ("search.rung_steps", "search.halving_rate", "search.rung_measure")

STRATEGIES: dict[str, Strategy] = {
    "coexplore": Strategy(
        proposals.coexplore,
        architecture_only=False,
        config_fields=(*SIGNAL_FIELDS, WARM_FIELD, *HALVING_FIELDS),
    ),
    "hw_aware": Strategy(
        architecture_only.hw_aware,
        architecture_only=True,
        prepare=fixed_design,
        config_fields=(
            "search.hw_aware_design",
            "search.hw_aware_reference",
            "reward.hw_aware_w",
        ),
    ),
    "sequential": Strategy(
        architecture_only.sequential,
        architecture_only=True,
    ),
    "random": Strategy(
        proposals.random_search,
        architecture_only=False,
        config_fields=HALVING_FIELDS,
    ),
    "random_screen": Strategy(
        proposals.random_screened,
        architecture_only=False,
        config_fields=(*SIGNAL_FIELDS, *HALVING_FIELDS),
    ),
}


def strategy(name: str) -> Strategy:
    """The entry of ``name``.

    Raises:
      SearchConfigError: an unknown name, in one line listing the known ones.
    """
    if name not in STRATEGIES:
        raise field_error(
            "strategy",
            f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}",
        )
    return STRATEGIES[name]


def run_episode(
    ctx: Context, params, key, episode: int, budget: int | None = None
) -> Outcome:
    """One episode of the run's strategy (``key`` consumed).

    Args:
      budget: children that may still be trained (None: no limit).
    """
    return strategy(ctx.setup.strategy).episode(ctx, params, key, episode, budget)


def prepare(setup: Setup) -> Design | None:
    """The hardware the run's strategy fixes before the search (None: none)."""
    hook = strategy(setup.strategy).prepare
    return None if hook is None else hook(setup)
