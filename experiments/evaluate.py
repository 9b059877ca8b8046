"""Score one (architecture, design) pair with the cost model and print it.

    python -m experiments.evaluate \\
      --layers='3,36,1;5,36,1;1,64,1;3,48,2;7,24,1;1,64,1' --input=32,32,3 \\
      --platform=mixed4 --stages='0-2,3-5' --devices='XC7Z045,XCZU9EG' \\
      --tilings='32,8,16,16,5,4,4,4;64,16,16,16,7,8,8,8'

Without --stages the layers are split evenly over the whole pool; without
--devices stage i runs on slot i; a stage without a tiling gets the largest
square-ish MAC array that fits its FPGA (a default, not an optimum). The
figures come from the jitted :func:`cosearch.hardware.cost_model.evaluate`.
"""

from __future__ import annotations

import json

import jax
import numpy as np
from absl import flags

from cosearch.hardware.architecture import Architecture, arch_arrays
from cosearch.hardware.cost_model import CostResult, evaluate
from cosearch.hardware.design import Design, Stage, design_arrays
from cosearch.hardware.devices import Device, Platform, load_library, resolve_platform
from cosearch.hardware.layer_model import BOTTLENECK_NAMES, Tiling
from cosearch.hardware.platform_arrays import platform_arrays
from cosearch.hardware.resources import accelerator_resources
from experiments import common

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The launcher's flags (defined on demand, so importing this is harmless)."""
    flags.DEFINE_string(
        "layers", None, "Layers as 'kernel,filters,stride;...' (stride optional)."
    )
    flags.DEFINE_string("input", "32,32,3", "Input height,width,channels.")
    flags.DEFINE_string(
        "platform", "mixed4", "Platform preset, or a JSON file (file.json[:name])."
    )
    flags.DEFINE_string(
        "hardware_file", None, "JSON file adding devices/platforms to the library."
    )
    flags.DEFINE_string(
        "stages", None, "Inclusive layer ranges per stage, e.g. '0-2,3-5'."
    )
    flags.DEFINE_string(
        "devices", None, "Pool slot or device name per stage, e.g. '0,3' or 'XC7Z045'."
    )
    flags.DEFINE_string(
        "tilings", None, "Per stage 'tm,tn,tr,tc[,tk],wp,ip,op', separated by ';'."
    )
    flags.DEFINE_enum("bits", "16", ["16", "32"], "Word width in bits.")
    flags.DEFINE_bool("enforce_bram", True, "BRAM counts for feasibility.")
    flags.DEFINE_bool("json", False, "Print JSON instead of tables.")


def parse_stages(text: str | None, depth: int, pool: int) -> list[tuple[int, int]]:
    """``'0-2,3-5'`` -> [(0, 2), (3, 5)]; default: depth split evenly over pool."""
    if not text:
        m = min(depth, pool)
        cuts = [round(i * depth / m) for i in range(m + 1)]
        return [(cuts[i], cuts[i + 1] - 1) for i in range(m)]
    out = []
    for part in text.replace(" ", "").split(","):
        first, sep, last = part.partition("-")
        try:
            a, b = int(first), int(last) if sep else int(first)
        except ValueError:
            raise common.UsageError(
                f"--stages: expected ranges like '0-2,3-5', got {part!r}"
            ) from None
        out.append((a, b))
    return out


def parse_devices(text: str | None, platform: Platform, count: int) -> list[int]:
    """Pool slots per stage from indices or device names (first unused slot)."""
    if not text:
        return list(range(count))
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) != count:
        raise common.UsageError(f"--devices: {len(parts)} given for {count} stages")
    slots, used = [], set()
    for part in parts:
        if part.lstrip("-").isdigit():
            slot = int(part)
            if not 0 <= slot < platform.size:
                raise common.UsageError(
                    f"--devices: slot {slot} not in the pool of {platform.size} "
                    f"({', '.join(platform.device_names)})"
                )
        else:
            free = [
                i
                for i, name in enumerate(platform.device_names)
                if name.upper() == part.upper() and i not in used
            ]
            if not free:
                raise common.UsageError(
                    f"--devices: no unused {part!r} in platform {platform.name} "
                    f"({', '.join(platform.device_names)})"
                )
            slot = free[0]
        used.add(slot)
        slots.append(slot)
    return slots


def default_tiling(device: Device, max_kernel: int, rows: int, bits: int) -> Tiling:
    """The largest Tm x Tn (powers of two, Tm >= Tn) that fits ``device``."""
    tile = 1 << max(0, min(32, rows) - 1).bit_length()
    words = max(1, device.port_bits // bits // 3)
    port = 1 << (words.bit_length() - 1)
    best = Tiling(1, 1, tile, tile, max_kernel, port, port, port)
    for tm in (2**i for i in range(8)):
        for tn in (2**i for i in range(8)):
            if tn > tm:
                continue
            t = Tiling(tm, tn, tile, tile, max_kernel, port, port, port)
            res = accelerator_resources(t, bits)
            fits = (
                res.dsp <= device.dsp
                and res.bram18 <= device.bram18
                and res.lutram <= device.lutram
                and res.ffs <= device.ffs
            )
            if fits and tm * tn > best.tm * best.tn:
                best = t
    return best


def parse_tilings(text, arch, stages, platform, slots, bits, input_hwc):
    """One Tiling per stage; tk may be omitted (-> the stage's largest kernel)."""
    parts = [p for p in (text or "").replace(" ", "").split(";") if p]
    if parts and len(parts) != len(stages):
        raise common.UsageError(
            f"--tilings: {len(parts)} given for {len(stages)} stages"
        )
    layers = arch.conv_layers(input_hwc)
    out = []
    for j, (first, last) in enumerate(stages):
        max_kernel = max(lay.k for lay in layers[first : last + 1] or layers)
        if not parts:
            rows = layers[min(first, len(layers) - 1)].r
            out.append(
                default_tiling(platform.devices[slots[j]], max_kernel, rows, bits)
            )
            continue
        vals = common.parse_ints(
            parts[j].replace(",", " ").replace(" ", ","), "--tilings"
        )
        if len(vals) == 7:
            vals = (*vals[:4], max_kernel, *vals[4:])
        if len(vals) != 8:
            raise common.UsageError(
                f"--tilings: stage {j}: expected tm,tn,tr,tc[,tk],wp,ip,op, "
                f"got {parts[j]!r}"
            )
        with common.flag_value(f"--tilings: stage {j}"):
            out.append(Tiling(*vals))
    return out


def build():
    """(arch, input_hwc, platform, design, bits) from the flags."""
    if not FLAGS.layers:
        raise common.UsageError("--layers is required, e.g. --layers='3,36,1;1,64,1'")
    with common.flag_value("--layers"):
        arch = Architecture.parse(FLAGS.layers)
    input_hwc = common.parse_input_shape(FLAGS.input, "--input")
    library = load_library(FLAGS.hardware_file)
    platform = resolve_platform(FLAGS.platform, library)
    bits = int(FLAGS.bits)
    ranges = parse_stages(FLAGS.stages, arch.depth, platform.size)
    slots = parse_devices(FLAGS.devices, platform, len(ranges))
    tilings = parse_tilings(
        FLAGS.tilings, arch, ranges, platform, slots, bits, input_hwc
    )
    design = Design(
        tuple(
            Stage(a, b, slot, t)
            for (a, b), slot, t in zip(ranges, slots, tilings, strict=True)
        )
    )
    with common.flag_value("--stages/--devices"):
        design.validate(arch.depth, platform.size)
    return arch, input_hwc, platform, design, bits


def report(arch, input_hwc, platform, design, bits, enforce_bram) -> dict:
    """The figures of the pair as a JSON-ready dict."""
    res: CostResult = evaluate(
        arch_arrays([arch], input_hwc),
        design_arrays([design], arch.depth, design.num_stages),
        platform_arrays(platform),
        bits=bits,
        enforce_bram=enforce_bram,
    )
    res = jax.tree.map(lambda v: np.asarray(v)[0], res)
    layers = arch.conv_layers(input_hwc)
    stages = []
    for j, st in enumerate(design.stages):
        dev = platform.devices[st.device]
        stages.append(
            {
                "stage": j,
                "layers": [st.first, st.last],
                "slot": st.device,
                "device": dev.name,
                "tiling": dict(
                    zip(
                        ("tm", "tn", "tr", "tc", "tk", "wp", "ip", "op"),
                        st.tiling.as_tuple(),
                        strict=True,
                    )
                ),
                "dsp": [int(res.stage_dsp[j]), dev.dsp],
                "bram18": [int(res.stage_bram18[j]), dev.bram18],
                "lutram": [int(res.stage_lutram[j]), dev.lutram],
                "ffs": [int(res.stage_ffs[j]), dev.ffs],
                "port_bits": [int(res.stage_port_bits[j]), dev.port_bits],
                "cycles": float(res.stage_cycles[j]),
                "seconds": float(res.stage_seconds[j]),
                "link_seconds": float(res.stage_link_seconds[j]),
                "feasible": bool(res.stage_feasible[j]),
            }
        )
    per_layer = [
        {
            "layer": i,
            "stage": int(res.layer_stage[i]),
            "shape": {k: getattr(lay, k) for k in ("n", "m", "r", "c", "k", "s")},
            "cycles": float(res.layer_cycles[i]),
            "bottleneck": BOTTLENECK_NAMES[int(res.layer_bottleneck[i])],
        }
        for i, lay in enumerate(layers)
    ]
    return {
        "layers": str(arch),
        "input": list(input_hwc),
        "platform": platform.name,
        "bits": bits,
        "enforce_bram": enforce_bram,
        "feasible": bool(res.feasible),
        "throughput_img_s": float(res.throughput),
        "latency_ms": float(res.latency) * 1e3,
        "gops_per_w": float(res.gops_per_w),
        "power_w": float(res.power_w),
        "pipeline_eff": float(res.pipeline_eff),
        "macs": float(res.macs),
        "stages": stages,
        "per_layer": per_layer,
    }


def format_table(rep: dict) -> str:
    """Human-readable per-stage and per-layer tables."""
    lines = [
        f"layers {rep['layers']}  input {rep['input']}  platform {rep['platform']}  "
        f"{rep['bits']}-bit",
        "",
        "stage layers device     tiling(tm,tn,tr,tc,tk,wp,ip,op)  DSP        "
        "BRAM18K    ports     cycles       ms      ok",
    ]
    for st in rep["stages"]:
        tiling = ",".join(str(v) for v in st["tiling"].values())
        use = lambda k, st=st: f"{st[k][0]}/{st[k][1]}"
        lines.append(
            f"{st['stage']:>5} {st['layers'][0]:>2}-{st['layers'][1]:<3} "
            f"{st['device']:<10} {tiling:<32} {use('dsp'):<10} {use('bram18'):<10} "
            f"{use('port_bits'):<9} {st['cycles']:>12.0f} {st['seconds'] * 1e3:>8.4f} "
            f"{'yes' if st['feasible'] else 'NO'}"
        )
    lines += ["", "layer stage   N    M    R    C  K  S      cycles  bottleneck"]
    for lay in rep["per_layer"]:
        sh = lay["shape"]
        lines.append(
            f"{lay['layer']:>5} {lay['stage']:>5} {sh['n']:>4} {sh['m']:>4} "
            f"{sh['r']:>4} {sh['c']:>4} {sh['k']:>2} {sh['s']:>2} "
            f"{lay['cycles']:>11.0f}  {lay['bottleneck']}"
        )
    lines += [
        "",
        f"feasible             {'yes' if rep['feasible'] else 'NO'}",
        f"throughput           {rep['throughput_img_s']:.2f} img/s",
        f"latency              {rep['latency_ms']:.4f} ms",
        f"energy efficiency    {rep['gops_per_w']:.3f} GOPS/W",
        f"power                {rep['power_w']:.3f} W",
        f"pipeline efficiency  {rep['pipeline_eff']:.3f}",
        f"MACs per image       {rep['macs']:.0f}",
    ]
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    arch, input_hwc, platform, design, bits = build()
    rep = report(arch, input_hwc, platform, design, bits, FLAGS.enforce_bram)
    print(json.dumps(rep) if FLAGS.json else format_table(rep))


if __name__ == "__main__":
    define_flags()
    common.run(main)
