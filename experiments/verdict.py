r"""Does co-exploration find more accurate designs than random sampling? The
aims of a five-seed comparison on final test accuracy, checked seed by seed.

  python -m experiments.verdict --comparison=runs/verdict/comparison.json \
      --out=experiments/results/verdict_default/verdict.md

Reads an ``experiments.compare`` result whose runs were final-trained
(``final.max_designs`` >= 1, ideally with ``final.reference_set``) and says,
for each aim, the figures per seed and whether it is met. OptSW is each
search's own pick on proxy accuracy (the test split did not choose it); two
final accuracies within the comparison's tie margin tie.

1. coexplore's mean OptSW final accuracy above random's by more than the
   tie margin;
2. no seed where coexplore's OptSW loses to random's by more than the margin;
3. coexplore not below random_screen (a tie is acceptable);
4. coexplore's OptSW in the reference set's top 10% in at least 4 of 5 seeds;
5. coexplore's hypervolume on final accuracy ahead of random's in at least
   4 of 5 seeds;
6. against hw_aware: its final accuracy or better (a tie allowed) at >= +35%
   images/s and >= +54% GOPS/W, with at most a third of its child-training
   compute.

A missing strategy or measure leaves its aims "not measured".
"""

from __future__ import annotations

import json

from absl import flags

from cosearch.files.atomic import atomic_write_text
from experiments import common
from experiments.aims import aims, markdown

_COMPARISON = flags.DEFINE_string(
    "comparison", None, "comparison.json of an experiments.compare run."
)
_OUT = flags.DEFINE_string("out", None, "Also write the markdown here.")


def main(argv):
    common.require(argv, comparison=_COMPARISON.value)
    try:
        with open(_COMPARISON.value) as f:
            comparison = json.load(f)
        comparison["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise common.UsageError(
            f"--comparison={_COMPARISON.value}: not a comparison.json ({e})"
        ) from None
    text = markdown(aims(comparison))
    if _OUT.value:
        atomic_write_text(_OUT.value, text)
    print(text, end="")


if __name__ == "__main__":
    common.run(main, compile_cache=False)
