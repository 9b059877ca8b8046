"""Default co-exploration search: sized for a laptop CPU.

Embedded Fashion-MNIST subset (20,000 training images, the 10,000 test
images), fixed-stride 6-layer children with a global-average-pooling head,
the ``mixed4`` platform (XC7Z020, XC7Z020, XC7Z045, XCZU9EG) and a
throughput spec of 1,000 images/s; the search asks for the most accurate
design at the spec; after it, its final phase trains OptSW again
(``final.*``) and scores it on the test split.

Run:
  python -m experiments.search --config=experiments/configs/default.py \
      --workdir=/tmp/cosearch_default
The demo (``make demo``: the same search, 6 children at a spec of 3,000
images/s, sized to end within 12 minutes on a 2-core CPU, final training
included):
  python -m experiments.search --config=experiments/configs/default.py:demo \
      --workdir=runs/default
Smoke (3-layer children on tiny synthetic data):
  python -m experiments.search --config=experiments/configs/default.py:smoke \
      --workdir=/tmp/cosearch_smoke
Override any field, e.g. ``--config.search.episodes=20``.
"""

from __future__ import annotations

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The default config; ``arg="smoke"`` gives a tiny run for checking a setup."""
    c = ml_collections.ConfigDict()
    c.seed = 0  # root of every random key of the run
    c.strategy = (
        "coexplore"  # coexplore | hw_aware | sequential | random | random_screen
    )

    c.space = ml_collections.ConfigDict()
    c.space.depth = 6  # conv layers per child
    c.space.kernels = (1, 3, 5, 7)  # square kernel sizes
    c.space.filters = (24, 36, 48, 64)  # output channels
    c.space.strides = (1,)  # (1,) fixed stride; (1, 2) predictable stride

    c.platform = ml_collections.ConfigDict()
    c.platform.name = "mixed4"  # preset name, or a JSON file (see README)
    c.platform.hardware_file = ""  # optional JSON adding devices/platforms
    c.platform.grid_file = ""  # optional JSON of tiling value lists
    c.platform.bits = 16  # 16 (fixed point) or 32 (float)
    c.platform.enforce_bram = True  # False reproduces the authors' unchecked BRAM

    c.specs = ml_collections.ConfigDict()
    c.specs.min_fps = 1000.0  # images/s; 0 = no spec
    c.specs.max_latency_ms = 0.0  # ms per image; 0 = no spec
    c.specs.min_gops_per_w = 0.0  # GOPS/W; 0 = no spec

    c.reward = ml_collections.ConfigDict()
    c.reward.objective = "throughput"  # hardware objective: throughput | energy
    # "accuracy": the most accurate design at the spec (acc_n + tie_weight
    # eff_n); "tradeoff": alpha acc_n + (1 - alpha) eff_n, which at 10
    # children traded 1.3 points of final accuracy for speed against random
    # sampling (BUILD_NOTES.md "Strategy comparison").
    c.reward.mode = "accuracy"
    c.reward.tie_weight = 0.01  # "accuracy" mode: efficiency as a tie-break
    c.reward.alpha = 0.5  # weight of accuracy; 1 - alpha weighs efficiency
    # Bounds around the proxy's accuracies (~0.70-0.76 on this space).
    c.reward.acc_lo = 0.68  # accuracy mapped to -1
    c.reward.acc_hi = 0.78  # accuracy mapped to +1
    # Objective mapped to +1 (images/s or GOPS/W): twice the spec, so that
    # speed beyond it earns nothing and the policy has no reason to retreat
    # to the smallest networks.
    c.reward.eff_hi = 2000.0
    # Seed-to-seed std of a child's proxy accuracy (experiments.proxy_fidelity);
    # accuracy differences of this size count as ties in the reward.
    c.reward.acc_noise = 0.009
    c.reward.hw_aware_w = -0.07  # MnasNet soft-constraint exponent (hw_aware)

    c.controller = ml_collections.ConfigDict()
    c.controller.hidden = 35  # LSTM units (35 as in the original controller)
    c.controller.embed = 32  # token embedding width
    c.controller.temperature = 1.5  # logits divided by this
    c.controller.tanh_c = 2.5  # logits -> c * tanh(logits / temperature); 0 = off
    c.controller.learning_rate = 0.01  # Adam step size
    c.controller.entropy_coef = 0.01  # entropy bonus weight
    c.controller.baseline_decay = 0.8  # moving-average baseline decay
    c.controller.grad_clip = 1.0  # global-norm clip
    c.controller.optimizer = "adam"  # adam | sgd

    # The budget is counted in trained children: an episode that trains
    # nothing (its proposals pruned or measured before) costs only the fast
    # level's scoring, no training.
    c.search = ml_collections.ConfigDict()
    # 10 children (about 5-6 min of proxy training) leave the final training
    # of OptSW (about 5 min) room within the demo's 12 minutes.
    c.search.max_children = 10  # stop after this many trainings; 0 = no limit
    # Stop after this much child-training compute, in training images
    # (optimizer steps x batch size, over every child); 0 = no limit.
    c.search.max_train_images = 0
    c.search.episodes = 0  # stop after this many episodes; 0 = no limit
    c.search.max_wall_s = 0.0  # stop after this many seconds; 0 = no limit
    c.search.candidates_per_episode = 64  # proposals scored by the fast level
    c.search.children_per_episode = 1  # most children trained per episode
    c.search.max_idle_episodes = 200  # stop after this many without a new child
    c.search.opt_hw_margin = 0.01  # OptHW: accuracy within this of OptSW's
    c.search.checkpoint_every = 1  # episodes between checkpoints
    # The accuracy coexplore expects of the survivors it does not train (it
    # ranks which are trained, and rewards the others): "predictor" (ridge on
    # structural features, fitted on the children measured) or training-free
    # scores of cosearch.child.scores.SCORES, "a" or "a+b" (mean of their
    # standardised values). deep_layers+log_macs: tau +0.45 against the
    # 48-architecture reference set, its best-scored of 16 at the 77th
    # percentile (BUILD_NOTES.md "Reference set and training-free scores").
    c.search.accuracy_signal = "deep_layers+log_macs"
    # Correlation of the signal's score with accuracy (scores only): the
    # Pearson equivalent sin(pi tau / 2) of its Kendall tau against the
    # reference set (experiments.score_fidelity; +0.45 gives 0.65).
    c.search.signal_rho = 0.65
    # Episodes that train no child first (coexplore): the controller learns
    # from the fast level and the training-free signal alone (a score, not
    # "predictor", which has nothing before the first child); they count
    # toward search.episodes, not toward the children or compute budgets.
    c.search.warm_episodes = 0
    # Successive halving of the survivors (coexplore, random, random_screen):
    # rung budgets in steps below train.steps, e.g. (25,); () = off. Each rung
    # keeps the best 1/halving_rate by rung_measure ("accuracy" at the rung's
    # end or "loss_sum", the sum of its training losses).
    c.search.rung_steps = ()
    c.search.halving_rate = 4
    c.search.rung_measure = "accuracy"
    c.search.hw_aware_design = ""  # hw_aware fixed design (JSON file); "" = derive
    # hw_aware's fixed design is sized for this reference network (its best
    # design with every kernel the space's largest, so that it runs every
    # child; "" = the largest network of one kernel size and filter count in
    # every layer that meets the specs on it); it must lie in the space.
    c.search.hw_aware_reference = ""

    c.data = ml_collections.ConfigDict()
    c.data.name = "embedded"  # embedded | fashion_mnist | cifar10 | synthetic
    c.data.data_dir = ""  # for fashion_mnist / cifar10
    c.data.val_fraction = 0.15  # held out of the training split (3,000 images)

    c.train = ml_collections.ConfigDict()
    # Proxy training sized for a 2-core CPU (BUILD_NOTES.md, "Accuracy axis and
    # proxy": its noise, signal and rank agreement, and seconds per child).
    c.train.steps = 100  # optimizer steps per child (overrides epochs)
    c.train.epochs = 1  # passes over the training split, when steps = 0
    c.train.batch_size = 64  # images per step
    c.train.optimizer = "sgd"  # sgd (momentum) | adam
    c.train.learning_rate = 0.1  # peak step size
    c.train.momentum = 0.9  # SGD momentum
    c.train.schedule = "cosine"  # cosine | constant
    c.train.warmup_steps = 0  # linear warm-up steps before the schedule
    c.train.grad_clip = 0.0  # global-norm gradient clip; 0 = off
    # Learning-rate factor of the dense head (< 1 only for the flatten head,
    # whose tens of thousands of inputs make full-rate SGD steps blow the loss
    # up; BUILD_NOTES.md).
    c.train.head_lr_scale = 1.0
    c.train.weight_decay = 5e-4  # L2 weight decay on kernels
    c.train.eval_batch_size = 500  # images per evaluation batch (per program, batched)
    # An episode's children trained together, one compiled program per stride
    # pattern (cosearch/child/batched.py): on | off | auto (on except on the CPU,
    # where the padded FLOPs cost more than the compiles they save).
    c.train.batched = "auto"
    # The child's classifier head: gap (global average pooling -> Dense, so
    # that accuracy comes from the conv layers the accelerator runs) or
    # flatten (Flatten -> Dense, the paper's child; on Fashion-MNIST its
    # linear head on 28x28 maps hides the architecture: BUILD_NOTES.md).
    c.train.head = "gap"

    # Final training of the designs a search finds (OptSW, OptHW, then the
    # Pareto front): on the training and validation images, over several
    # seeds, scored on the test split (cosearch/final). Unset budget fields
    # are config.train's.
    c.final = ml_collections.ConfigDict()
    # Designs finalized after a search (OptSW, OptHW, then the front); 0 =
    # none. One keeps the demo within 12 minutes: in "accuracy" mode OptHW
    # is within search.opt_hw_margin of OptSW's proxy accuracy, and
    # experiments.finalize --max_designs=N trains more of them later.
    c.final.max_designs = 1
    c.final.seeds = 2  # training seeds per design (>= 2)
    # Runs trained at once (threads; results unchanged): on a 2-core CPU
    # two take 1.71x less time than one after another with jax 0.10, 1.04x
    # with jax 0.12 (one program there already spreads over both cores;
    # benchmarks.bench_final_runs, BUILD_NOTES.md).
    c.final.parallel_runs = 2
    c.final.steps = 600  # optimizer steps (about 2 epochs; sized for a 2-core CPU)
    c.final.batch_size = 64  # images per step
    c.final.learning_rate = 0.05  # peak step size
    c.final.warmup_steps = 30  # linear warm-up steps
    c.final.head_lr_scale = 1.0  # learning-rate factor of the dense head
    # Seed-to-seed std of a final test accuracy (experiments.proxy_fidelity);
    # differences of final accuracies within the tie margin are ties.
    c.final.noise = 0.006
    # A reference set of this space (experiments.reference_set's JSON):
    # each finalized design's percentile in it is reported; "" = none.
    c.final.reference_set = ""

    # Where children train (see README "Running on GPUs, TPUs and several
    # hosts"); results do not depend on it.
    c.parallel = ml_collections.ConfigDict()
    c.parallel.devices = 0  # local devices per process; 0 = all of them

    if arg == "demo":
        # `make demo`: the same search, 6 children at a spec of 3,000
        # images/s, whose networks (under ~50 MMACs per image) train in
        # ~40 s as children and ~4 min in the final training on a 2-core
        # CPU, so that search and final training end within 12 minutes. At
        # the default spec the most accurate networks are ~2x larger: ~13
        # min of search and ~10 min of final training there (BUILD_NOTES.md
        # "Default search").
        c.specs.min_fps = 3000.0
        c.reward.eff_hi = 6000.0  # twice the spec, as at the default
        c.search.max_children = 6
    elif arg == "smoke":
        c.search.max_children = 4
        c.search.episodes = 2
        c.search.candidates_per_episode = 8
        c.search.children_per_episode = 2
        c.data.name = "synthetic"
        c.space.depth = 3
        c.train.steps = 5
        c.train.batch_size = 32
        c.train.eval_batch_size = 128
        c.specs.min_fps = 20000.0
        c.reward.eff_hi = 300000.0
        c.final.steps = 10
        c.final.batch_size = 32
    elif arg not in (None, ""):
        raise ValueError(f"unknown config variant {arg!r}; known: demo, smoke")
    return c
