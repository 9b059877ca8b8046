"""The policy that proposes children, and what it learns from
(docs/design.md sections 1-3, 5).

- ``value_sets``: the value sets a search space chooses from
  (:class:`value_sets.ArchSpace`, :class:`value_sets.HardwareSpace`);
- ``space``: the token layout of a search space, encode and decode;
- ``masks``: the per-step validity masks and uniform sampling;
- ``controller``: the LSTM policy over the tokens;
- ``reinforce``: its REINFORCE update with a moving-average baseline;
- ``reward``: rewards of evaluated (architecture, design) pairs;
- ``predictor``: the accuracy predictor fitted on the children measured.

Imports ``hardware``, ``results`` (statistics), ``errors``; never the
search that drives it.
"""
