"""The two-level search (docs/design.md sections 1, 5, 6, 8, 9).

- ``config_checks``: reading a config's fields, one-line errors;
- ``settings``: the typed records a search is built into (:class:`Setup`);
- ``setup``: :func:`setup.build`, the one reader of a search's config;
- ``reachability``: specs no architecture can meet, found before training;
- ``explore``: the fast level (refine and prune sampled designs);
- ``episode``: what every strategy's episode shares (records, training
  fan-out, history records);
- ``proposals``: coexplore and random; ``architecture_only``: hw_aware and
  sequential; ``fixed_design``: hw_aware's fixed design, made and checked
  at setup; ``strategies``: the one table of strategies;
- ``workdir``: the workdir's checks and lock;
- ``run_state``: a run's state, checkpoints, resume and outputs;
- ``loop``: :func:`loop.run`, the episode loop with budgets and progress;
- ``comparison``: strategies run and compared over seeds.

Imports every room below it (``hardware``, ``data``, ``files``,
``runtime``, ``child``, ``results``, ``policy``, ``final``) and ``errors``;
never ``hls``, which sits beside it.
"""
