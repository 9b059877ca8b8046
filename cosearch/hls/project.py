"""The files of an exported HLS project, as text and bytes.

Layout of the project folder:

* ``cosearch_engine.h``: the tiled engine (:mod:`cosearch.hls.engine`);
* ``stage<s>/accel.h``, ``stage<s>/accel.cpp``: stage s's accelerator, the
  top function ``cosearch_stage<s>`` (one layer per call) with its tiling and
  word types as compile-time constants; ``stage<s>/run_hls.tcl``: its Vitis
  HLS script;
* ``network.h``: the layer table; ``tb.cpp``: the testbench;
* ``params/``: binary parameter files the testbench reads (weights stay in
  external memory; the accelerator loads tiles of them):
  ``layer<l>.f32`` (float32: kernel OIHW, bias, scale, shift) for the float
  build, ``layer<l>.q`` (int64 raw values of the same, in the stage's
  ap_fixed formats) for the fixed build, ``head.f32`` (float32 ``[D,
  classes]`` kernel, then bias; D in H, W, C order);
* ``Makefile`` (C-simulation with g++), ``README.md``, ``export.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosearch.hardware.geometry import out_size
from cosearch.hardware.resources import BUFFERS, word_bits
from cosearch.hls.design import HlsDesign
from cosearch.hls.engine import buffer_constants, stage_declarations
from cosearch.hls.fixed import StageFormat, quantize_layer
from cosearch.hls.network import Network

ENGINE_FILE = "cosearch_engine.h"
WORDS = tuple(word_bits(16))  # the engine's word types, as the model knows them


def layer_shapes(network: Network) -> list[tuple[int, int, int, int, int, int]]:
    """(N, M, R, C, K, S) of each layer."""
    r, c, n = network.input_shape
    out = []
    for k, f, s in network.architecture.layers:
        out.append((n, f, r, c, k, s))
        r, c, n = out_size(r, s), out_size(c, s), f
    return out


def stage_header(s: int, design: HlsDesign, fmt: StageFormat) -> str:
    """``stage<s>/accel.h``: the stage's constants, types and top function."""
    consts = buffer_constants(design.stages[s].tiling)
    const_text = ", ".join(f"{k} = {v}" for k, v in consts.items())
    fixed = "\n".join(f"  typedef {t} {w};" for w, t in fmt.typedefs().items())
    floats = "\n".join(f"  typedef float {w};" for w in WORDS)
    uses = "\n".join(f"typedef Cfg::{w} {w};" for w in WORDS)
    st = design.stages[s]
    return f"""// Stage {s}: layers {st.first}..{st.last} on {st.device} (cosearch.hls).
#ifndef COSEARCH_STAGE{s}_H
#define COSEARCH_STAGE{s}_H

#include "../{ENGINE_FILE}"

namespace stage{s} {{
struct Cfg {{
  static const int {const_text};
#ifdef COSEARCH_FLOAT
{floats}
#else
{fixed}
#endif
}};
{uses}
}}  // namespace stage{s}

void cosearch_stage{s}(const stage{s}::data_t *in, stage{s}::data_t *out,
                     const stage{s}::weight_t *w, const stage{s}::bias_t *bias,
                     const stage{s}::scale_t *scale, const stage{s}::shift_t *shift,
                     int N, int M, int R, int C, int K, int S);

#endif  // COSEARCH_STAGE{s}_H
"""


def stage_source(s: int, network: Network, design: HlsDesign) -> str:
    """``stage<s>/accel.cpp``: the top function and its interface pragmas."""
    shapes = [layer_shapes(network)[i] for i in design.stages[s].layer_indices]
    depth = {
        "in": max(n * r * c for n, m, r, c, k, st in shapes),
        "out": max(
            m * out_size(r, st) * out_size(c, st) for n, m, r, c, k, st in shapes
        ),
        "w": max(m * n * k * k for n, m, r, c, k, st in shapes),
        "bias": max(m for n, m, r, c, k, st in shapes),
    }
    depth["scale"] = depth["shift"] = depth["bias"]
    axi = "\n".join(
        f"#pragma HLS INTERFACE m_axi port={p} offset=slave bundle=gmem_{p} depth={d}"
        for p, d in depth.items()
    )
    lite = "\n".join(
        f"#pragma HLS INTERFACE s_axilite port={p}"
        for p in (*depth, "N", "M", "R", "C", "K", "S", "return")
    )
    return f"""// Stage {s}'s accelerator: one layer per call (cosearch.hls).
#include "accel.h"

void cosearch_stage{s}(const stage{s}::data_t *in, stage{s}::data_t *out,
                     const stage{s}::weight_t *w, const stage{s}::bias_t *bias,
                     const stage{s}::scale_t *scale, const stage{s}::shift_t *shift,
                     int N, int M, int R, int C, int K, int S) {{
{axi}
{lite}
{stage_declarations(design.stages[s].tiling, f"stage{s}")}
  cosearch::conv_layer<stage{s}::Cfg>(in, out, w, bias, scale, shift, N, M, R, C,
                                     K, S, {", ".join(b.name for b in BUFFERS)});
}}
"""


def network_header(network: Network, design: HlsDesign) -> str:
    """``network.h``: the stages' headers and the layer table."""
    rows = ",\n".join(
        f"    {{{design.stage_of(i)}, {n}, {m}, {r}, {c}, {k}, {s}}}"
        for i, (n, m, r, c, k, s) in enumerate(layer_shapes(network))
    )
    includes = "\n".join(
        f'#include "stage{s}/accel.h"' for s in range(len(design.stages))
    )
    h, w, c = network.input_shape
    return f"""// The network's layer table (generated by cosearch.hls).
#ifndef COSEARCH_NETWORK_H
#define COSEARCH_NETWORK_H

{includes}

struct LayerDesc {{
  int stage, N, M, R, C, K, S;
}};
static const int NUM_LAYERS = {len(network.layers)};
static const int NUM_STAGES = {len(design.stages)};
static const LayerDesc LAYERS[NUM_LAYERS] = {{
{rows}
}};
static const int IN_H = {h}, IN_W = {w}, IN_C = {c};
static const int NUM_CLASSES = {network.num_classes};
static const bool HEAD_GAP = {"true" if network.head == "gap" else "false"};

#endif  // COSEARCH_NETWORK_H
"""


def param_files(
    network: Network, design: HlsDesign, formats: Sequence[StageFormat]
) -> dict[str, bytes]:
    """The ``params/`` files (see the module doc), by relative path."""
    files = {}
    for s, st in enumerate(design.stages):
        for i in st.layer_indices:
            lay = network.layers[i]
            q = quantize_layer(network, i, formats[s])
            files[f"params/layer{i}.f32"] = (
                np.concatenate([lay.kernel.ravel(), lay.bias, lay.scale, lay.shift])
                .astype("<f4")
                .tobytes()
            )
            files[f"params/layer{i}.q"] = (
                np.concatenate([q.kernel.ravel(), q.bias, q.scale, q.shift])
                .astype("<i8")
                .tobytes()
            )
    files["params/head.f32"] = (
        np.concatenate([network.head_kernel.ravel(), network.head_bias])
        .astype("<f4")
        .tobytes()
    )
    return files


def makefile(design: HlsDesign, ap_types: str) -> str:
    """The C-simulation ``Makefile`` (g++, float and fixed builds)."""
    srcs = " ".join(f"stage{s}/accel.cpp" for s in range(len(design.stages)))
    heads = " ".join(f"stage{s}/accel.h" for s in range(len(design.stages)))
    builds = {
        "csim_float": "-DCOSEARCH_FLOAT",
        "csim_fixed": "",
        "csim_float_count": "-DCOSEARCH_FLOAT -DCOSEARCH_COUNT_LOOPS",
        "csim_fixed_count": "-DCOSEARCH_COUNT_LOOPS",
    }
    rules = "\n".join(
        f"build/{name}: $(SRCS) $(HEADERS)\n\tmkdir -p build\n"
        f"\t$(CXX) $(CXXFLAGS) {flags} -I. -I$(AP_TYPES) $(SRCS) -o $@\n"
        for name, flags in builds.items()
    )
    return f"""# C-simulation of the exported accelerators with g++ (no Xilinx tools).
#   make csim         fixed-point build, run on images.bin -> csim_out/
#   make csim_float   the same with float words
# images.bin: int32 count, H, W, C, then float32 images (NHWC).
AP_TYPES ?= {ap_types}
CXX ?= g++
CXXFLAGS ?= -std=c++17 -O2
SRCS = tb.cpp {srcs}
HEADERS = {ENGINE_FILE} network.h {heads}

.PHONY: all csim csim_float clean
all: build/csim_fixed build/csim_float

{rules}
csim: build/csim_fixed
\tmkdir -p csim_out && ./build/csim_fixed params images.bin csim_out

csim_float: build/csim_float
\tmkdir -p csim_out && ./build/csim_float params images.bin csim_out

clean:
\trm -rf build csim_out
"""


def tcl_script(s: int, design: HlsDesign) -> str:
    """``stage<s>/run_hls.tcl``: Vitis HLS C-simulation and synthesis of stage s."""
    st = design.stages[s]
    others = " ".join(
        f"../stage{o}/accel.cpp" for o in range(len(design.stages)) if o != s
    )
    part = st.part or ""
    return f"""# Vitis HLS: stage {s} (layers {st.first}..{st.last}) on {st.device}.
#   cd stage{s} && vitis_hls -f run_hls.tcl
# PART overrides the part (needed when the device has no known part).
set root [file normalize ..]
set part "{part}"
if {{[info exists ::env(PART)]}} {{ set part $::env(PART) }}
if {{$part eq ""}} {{ error "no Vitis part known for {st.device}: set PART" }}

open_project -reset proj_stage{s}
set_top cosearch_stage{s}
add_files accel.cpp -cflags "-I.. -std=c++14"
add_files -tb ../tb.cpp -cflags "-I.. -std=c++14"
{f'add_files -tb "{others}" -cflags "-I.. -std=c++14"' if others else ""}
open_solution -reset solution1
set_part $part
create_clock -period 10 -name default
file mkdir $root/csim_out
csim_design -argv "$root/params $root/images.bin $root/csim_out"
csynth_design
exit
"""
