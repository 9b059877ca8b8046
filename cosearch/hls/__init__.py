"""Export a found design as HLS C++ and C-simulate it against the network.

* :mod:`cosearch.hls.design`: a design entry (best_designs.json's format)
  parsed and checked with the cost model;
* :mod:`cosearch.hls.network`: the trained network with BatchNorm folded,
  and its JAX reference;
* :mod:`cosearch.hls.fixed`: the fixed-point formats and a bit-exact NumPy
  emulation of the fixed-point accelerators;
* :mod:`cosearch.hls.engine`, :mod:`cosearch.hls.project`,
  :mod:`cosearch.hls.testbench`: the generated C++;
* :mod:`cosearch.hls.export`: :func:`export`, the entry point;
* :mod:`cosearch.hls.csim`: build with g++ and run the C-simulation;
* :mod:`cosearch.hls.source`: a search workdir's designs and final weights.

A top room beside ``search``: imports ``hardware``, ``child`` (the
network), ``final`` (the trained weights) and ``errors``; nothing else in
:mod:`cosearch` imports it.
"""
