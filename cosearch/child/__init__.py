"""The child networks the search trains, and their trainers
(docs/design.md section 7).

- ``network``: the child CNN (Linen) and its parameter count;
- ``conv``: its 2-D convolution, with CPU-fast forward and gradients;
- ``padded``: a child padded to the space's largest kernel and channel
  count, so that children of one stride pattern share one program;
- ``train_steps``: the budget, optimizer, step and data order both
  trainers share;
- ``train``: one child at a time (:class:`train.Trainer`);
- ``batches``: how an episode's children become batches over devices;
- ``batched``: K children trained together under ``jax.vmap``.

Imports ``hardware`` (architectures, layer geometry), ``data`` and
``errors`` only.
"""
