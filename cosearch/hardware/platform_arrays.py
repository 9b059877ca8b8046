"""A platform as arrays for the jitted cost model (docs/design.md section 4.7)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct

from cosearch.hardware.devices import Platform


@struct.dataclass
class PlatformArrays:
    """A platform as arrays for the jitted cost model; P = pool size.

    Attributes:
      dsp: ``[P]`` int32 DSP slices.
      bram18: ``[P]`` int32 BRAM18K blocks.
      lutram: ``[P]`` int32 LUTs usable as distributed RAM.
      ffs: ``[P]`` int32 flip-flops.
      port_bits: ``[P]`` int32 port bits per cycle.
      clock_hz: ``[P]`` float32 clock, Hz.
      static_w: ``[P]`` float32 static power, W.
      dsp_w: ``[P]`` float32 W per DSP in use.
      bram_w: ``[P]`` float32 W per BRAM18K in use.
      link_bps: ``[P]`` float32 link bandwidth to the next FPGA, bit/s.
    """

    dsp: Any
    bram18: Any
    lutram: Any
    ffs: Any
    port_bits: Any
    clock_hz: Any
    static_w: Any
    dsp_w: Any
    bram_w: Any
    link_bps: Any


def platform_arrays(platform: Platform, xp=jnp) -> PlatformArrays:
    """The pool of ``platform`` as :class:`PlatformArrays` (``xp``: jnp or np)."""
    ds = platform.devices
    i32 = lambda f: xp.asarray(np.array([getattr(d, f) for d in ds], np.int32))
    f32 = lambda f: xp.asarray(np.array([getattr(d, f) for d in ds], np.float32))
    return PlatformArrays(
        dsp=i32("dsp"),
        bram18=i32("bram18"),
        lutram=i32("lutram"),
        ffs=i32("ffs"),
        port_bits=i32("port_bits"),
        clock_hz=f32("clock_hz"),
        static_w=f32("static_w"),
        dsp_w=f32("dsp_w"),
        bram_w=f32("bram_w"),
        link_bps=f32("link_bps"),
    )
