"""cosearch: co-exploration of CNN architectures and multi-FPGA accelerators.

The package is grouped into rooms by subject, each a subpackage whose
``__init__`` says what it holds (docs/design.md section 10):

- ``hardware``: FPGA devices, layer geometry, the analytic cost model and
  the design optimizer;
- ``data``: image data sets;
- ``files``: atomic writes, JSON-lines logs, orbax checkpoints;
- ``runtime``: the compile cache, devices and processes;
- ``child``: the child network, its convolutions and its trainers;
- ``results``: history records, Pareto fronts, statistics, report, plots;
- ``policy``: the search space's tokens, the controller, REINFORCE, the
  reward and the accuracy predictor;
- ``final``: final training of the designs a search finds;
- ``search``: a search's setup, its strategies, the episode loop, run
  state and the strategy comparison;
- ``hls``: export of a found design as HLS C++;

and ``errors``, the errors a user's input can cause, which every room uses.

Imports run one way: a module imports its own room and the rooms of lower
floors of :data:`FLOORS`, never a room of its own floor or above, and
never a launcher (``experiments``, ``benchmarks``); ``tests/test_layers.py``
checks every import statement against this order.
"""

# The floors, lowest first: a room may import only rooms of lower floors.
FLOORS = (
    ("errors",),
    ("hardware", "data", "files", "runtime"),
    ("child",),
    ("results",),
    ("policy",),
    ("final",),
    ("search", "hls"),
)
