"""FPGA device records, platform presets and their loading from JSON.

A *device* is a datasheet record (DSP slices, BRAM18K blocks, LUTs, LUTs
usable as distributed RAM, flip-flops, port bits per cycle) plus a clock,
power figures and the bandwidth of the serial link to the next FPGA of the
chain. A *platform* is an ordered pool of devices joined in a
chain (docs/design.md section 3). Everything here is host-side and immutable; the
cost model reads a platform through :func:`platform_arrays`.

Power figures are estimates, see BUILD_NOTES.md ("Device power figures").
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cosearch.errors import UserError

DEFAULT_CLOCK_HZ = 100e6  # Hz
DEFAULT_LINK_BPS = 10e9  # bit/s, Aurora-style serial link


class HardwareConfigError(UserError, ValueError):
    """A device, platform or grid description that cannot be used."""


# Plausible range of each numeric device field (inclusive), with its unit.
# Far wider than any FPGA made; values outside would overflow the cost
# model's arithmetic or make its figures meaningless (infinite throughput).
DEVICE_RANGES = {
    "dsp": (1, 1 << 20, "DSP slices"),
    "bram18": (1, 1 << 20, "BRAM18K blocks"),
    "luts": (1, 1 << 26, "LUTs"),
    "lutram": (1, 1 << 26, "LUTs usable as distributed RAM"),
    "ffs": (1, 1 << 27, "flip-flops"),
    "port_bits": (1, 1 << 16, "bits per cycle"),
    "clock_hz": (1e6, 1e10, "Hz"),
    "static_w": (1e-6, 1e4, "W"),
    "dsp_w": (1e-9, 1.0, "W"),
    "bram_w": (1e-9, 1.0, "W"),
    "link_bps": (1e3, 1e14, "bit/s"),
}


_INTEGER_FIELDS = ("dsp", "bram18", "luts", "lutram", "ffs", "port_bits")


@dataclasses.dataclass(frozen=True)
class Device:
    """One FPGA model.

    Attributes:
      name: device name, e.g. ``"XCZU9EG"``.
      dsp: DSP slices available.
      bram18: BRAM18K blocks available.
      luts: LUTs (CLB LUTs).
      lutram: LUTs usable as distributed RAM (those of SLICEM slices;
        Vivado's "LUT as Memory" available); at most ``luts``.
      ffs: flip-flops (CLB registers).
      port_bits: off-chip memory port width, bits per cycle.
      clock_hz: accelerator clock, Hz.
      static_w: static power when powered on, W.
      dsp_w: dynamic power per DSP slice in use at ``clock_hz``, W.
      bram_w: dynamic power per BRAM18K block in use at ``clock_hz``, W.
      link_bps: bandwidth of the link to the next FPGA of the chain, bit/s.
    """

    name: str
    dsp: int
    bram18: int
    luts: int
    lutram: int
    ffs: int
    port_bits: int
    clock_hz: float = DEFAULT_CLOCK_HZ
    static_w: float = 0.2
    dsp_w: float = 0.0006
    bram_w: float = 0.0008
    link_bps: float = DEFAULT_LINK_BPS

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if field.name == "name":
                if not isinstance(self.name, str) or not self.name:
                    raise HardwareConfigError("device record has an empty name")
                continue
            value = getattr(self, field.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise HardwareConfigError(
                    f"device {self.name!r}: field {field.name!r} must be a positive "
                    f"number, got {value!r}"
                )
        for field in _INTEGER_FIELDS:
            if int(getattr(self, field)) != getattr(self, field):
                raise HardwareConfigError(
                    f"device {self.name!r}: field {field!r} must be an integer, "
                    f"got {getattr(self, field)!r}"
                )
        for field, (lo, hi, unit) in DEVICE_RANGES.items():
            value = getattr(self, field)
            if not lo <= value <= hi:
                raise HardwareConfigError(
                    f"device {self.name!r}: {field} = {value:g} {unit} is outside "
                    f"the plausible range {lo:g}..{hi:g}"
                )

        if self.lutram > self.luts:
            raise HardwareConfigError(
                f"device {self.name!r}: lutram = {self.lutram} LUTs usable as "
                f"distributed RAM exceeds its luts = {self.luts}"
            )

    @property
    def link_bits_per_cycle(self) -> float:
        """Link bandwidth in bits per accelerator clock cycle."""
        return self.link_bps / self.clock_hz


# Power: static W per powered-on device; dynamic W per DSP / BRAM18 in use at
# 100 MHz. 7-series (28 nm) vs. UltraScale+ (16 nm) figures differ; sources
# and reasoning in BUILD_NOTES.md.
_7S_DSP_W, _7S_BRAM_W = 0.0006, 0.0008
_US_DSP_W, _US_BRAM_W = 0.0004, 0.0005

# DSP, BRAM18K, LUTs, LUTs usable as distributed RAM and flip-flops: the
# "available" column of Vivado's report_utilization for each part (the
# product tables DS180, DS190, DS891 give DSP, BRAM and LUTs; the SLICEM
# share of LUTs as "max distributed RAM" Kb / 64 bits).
DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device("XC7A50T", 120, 150, 32600, 9600, 65200, 128, static_w=0.10,
               dsp_w=_7S_DSP_W, bram_w=_7S_BRAM_W),
        Device("XC7Z015", 160, 190, 46200, 14400, 92400, 256, static_w=0.13,
               dsp_w=_7S_DSP_W, bram_w=_7S_BRAM_W),
        Device("XC7Z020", 220, 280, 53200, 17400, 106400, 256, static_w=0.15,
               dsp_w=_7S_DSP_W, bram_w=_7S_BRAM_W),
        Device("XC7Z045", 900, 1090, 218600, 70400, 437200, 256, static_w=0.30,
               dsp_w=_7S_DSP_W, bram_w=_7S_BRAM_W),
        Device("XCZU9EG", 2520, 1824, 274080, 144000, 548160, 512, static_w=0.70,
               dsp_w=_US_DSP_W, bram_w=_US_BRAM_W),
        Device("XC7VX485T", 2800, 2060, 303600, 130800, 607200, 512,
               static_w=0.55, dsp_w=_7S_DSP_W, bram_w=_7S_BRAM_W),
        Device("XC7VX690T", 3600, 2940, 433200, 174200, 866400, 512,
               static_w=0.75, dsp_w=_7S_DSP_W, bram_w=_7S_BRAM_W),
    )
}  # fmt: skip
DEVICE_ALIASES = {"VC707": "XC7VX485T"}


@dataclasses.dataclass(frozen=True)
class Platform:
    """An ordered pool of FPGAs in a chain; each is used by at most one stage.

    Attributes:
      name: platform name.
      devices: the pool, in chain order.
    """

    name: str
    devices: tuple[Device, ...]

    def __post_init__(self):
        if not self.devices:
            raise HardwareConfigError(f"platform {self.name!r} has an empty pool")

    @property
    def size(self) -> int:
        return len(self.devices)

    @property
    def device_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.devices)


PLATFORM_PRESETS: dict[str, tuple[str, ...]] = {
    "zcu102x2": ("XCZU9EG", "XCZU9EG"),
    "mixed4": ("XC7Z020", "XC7Z020", "XC7Z045", "XCZU9EG"),
    "pynq3": ("XC7Z020", "XC7Z020", "XC7Z020"),
    "zc706x2": ("XC7Z045", "XC7Z045"),
    "vc707x2": ("XC7VX485T", "XC7VX485T"),
}


class Library:
    """Known devices and platforms: the built-in table plus user additions.

    Immutable: :meth:`extended` returns a new library.
    """

    def __init__(
        self,
        devices: Mapping[str, Device] | None = None,
        platforms: Mapping[str, Sequence[str]] | None = None,
    ):
        self._devices = dict(DEVICES if devices is None else devices)
        self._platforms = {
            k: tuple(v)
            for k, v in (PLATFORM_PRESETS if platforms is None else platforms).items()
        }

    @property
    def device_names(self) -> tuple[str, ...]:
        return tuple(self._devices)

    @property
    def platform_names(self) -> tuple[str, ...]:
        return tuple(self._platforms)

    def device(self, name: str) -> Device:
        """The device called ``name`` (case-insensitive; aliases like VC707)."""
        key = DEVICE_ALIASES.get(name.upper(), name)
        for known, dev in self._devices.items():
            if known.upper() == key.upper():
                return dev
        raise HardwareConfigError(
            f"unknown FPGA device {name!r}; known: {', '.join(self._devices)}"
        )

    def platform(self, name: str) -> Platform:
        """The preset or user platform called ``name``."""
        if name not in self._platforms:
            raise HardwareConfigError(
                f"unknown platform {name!r}; known: {', '.join(self._platforms)}"
            )
        return Platform(name, tuple(self.device(d) for d in self._platforms[name]))

    def extended(self, spec: Mapping[str, Any], source: str = "<config>") -> Library:
        """A library with the devices and platforms of a JSON-like spec added.

        Args:
          spec: ``{"devices": [{name, dsp, bram18, port_bits, ...}, ...],
            "platforms": {name: [device names]}}``; either key is optional.
            A device record may name ``"base"`` to inherit from a known device.
          source: where the spec came from, for error messages.
        """
        if not isinstance(spec, Mapping):
            raise HardwareConfigError(f"{source}: expected a JSON object")
        unknown = set(spec) - {"devices", "platforms"}
        if unknown:
            raise HardwareConfigError(
                f"{source}: unknown key(s) {sorted(unknown)}; "
                "expected 'devices' and/or 'platforms'"
            )
        devices = dict(self._devices)
        for i, rec in enumerate(spec.get("devices", [])):
            dev = _device_from_record(rec, f"{source}: devices[{i}]", self)
            devices[dev.name] = dev
        lib = Library(devices, self._platforms)
        platforms = dict(self._platforms)
        spec_platforms = spec.get("platforms", {})
        if not isinstance(spec_platforms, Mapping):
            raise HardwareConfigError(
                f"{source}: 'platforms' must map each platform name to a list of "
                f'device names, e.g. {{"mine": ["XC7Z020", "XC7Z045"]}}'
            )
        for name, names in spec_platforms.items():
            if isinstance(names, str) or not isinstance(names, Sequence):
                raise HardwareConfigError(
                    f"{source}: platform {name!r} must be a list of device names"
                )
            if not names:
                raise HardwareConfigError(f"{source}: platform {name!r} is empty")
            for dev_name in names:
                try:
                    lib.device(dev_name)
                except HardwareConfigError as e:
                    raise HardwareConfigError(
                        f"{source}: platform {name!r}: {e}"
                    ) from None
            platforms[name] = tuple(lib.device(n).name for n in names)
        return Library(devices, platforms)


_DEVICE_FIELDS = {f.name for f in dataclasses.fields(Device)}
_REQUIRED_FIELDS = ("name", "dsp", "bram18", "luts", "lutram", "ffs", "port_bits")
# Fields a record written before banks went to LUTRAM and registers lacks.
_MEMORY_FIELDS = ("luts", "lutram", "ffs")


def _device_from_record(rec: Any, where: str, lib: Library) -> Device:
    if not isinstance(rec, Mapping):
        raise HardwareConfigError(f"{where}: a device record must be a JSON object")
    rec = dict(rec)
    base = rec.pop("base", None)
    unknown = set(rec) - _DEVICE_FIELDS
    if unknown:
        raise HardwareConfigError(
            f"{where}: unknown field(s) {sorted(unknown)}; "
            f"known: {sorted(_DEVICE_FIELDS)}"
        )
    if base is not None:
        if not isinstance(base, str):
            raise HardwareConfigError(
                f"{where}: 'base' must name a known device, got {base!r}"
            )
        fields = dataclasses.asdict(lib.device(base))
        fields.update(rec)
        rec = fields
    missing = [f for f in _REQUIRED_FIELDS if f not in rec]
    if missing:
        name = rec.get("name", "?")
        hint = (
            " (small buffer banks are charged to LUTRAM and flip-flops: give the "
            "part's LUTs, LUTs usable as distributed RAM ('LUT as Memory') and "
            "flip-flops from its datasheet or Vivado's report_utilization, or "
            "'base' a known device)"
            if set(missing) & set(_MEMORY_FIELDS)
            else ""
        )
        raise HardwareConfigError(
            f"{where} (device {name!r}): missing field(s) {missing}{hint}"
        )
    if not isinstance(rec["name"], str) or not rec["name"].strip():
        raise HardwareConfigError(
            f"{where}: 'name' must be a non-empty string, got {rec['name']!r}"
        )
    return Device(**rec)


def read_json_file(path: str | os.PathLike, what: str) -> Any:
    """Parsed JSON of ``path``; a missing or malformed file is one
    :class:`HardwareConfigError` naming ``what`` and the path."""
    path = os.fspath(path)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise HardwareConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise HardwareConfigError(
            f"{what} {path} is a directory, expected a JSON file"
        ) from None
    except (UnicodeDecodeError, PermissionError) as e:
        raise HardwareConfigError(f"{what} {path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise HardwareConfigError(f"{path}: not valid JSON ({e})") from None


def load_library(path: str | os.PathLike | None = None) -> Library:
    """The built-in library, extended with a JSON file when ``path`` is given."""
    lib = Library()
    if path is None:
        return lib
    path = os.fspath(path)
    return lib.extended(read_json_file(path, "hardware file"), source=path)


def resolve_platform(name_or_path: str, library: Library | None = None) -> Platform:
    """A platform from a preset name, or from a JSON file.

    The file holds ``{"devices": [...], "platforms": {...}}``; when it defines
    exactly one platform, that one is taken, otherwise use ``file.json:name``.
    A plain JSON list of device names is a platform too.
    """
    library = library or Library()
    path, _, choice = name_or_path.partition(":")
    if not (path.endswith(".json") or os.path.sep in path):
        return library.platform(name_or_path)
    spec = read_json_file(path, "platform file")
    stem = os.path.splitext(os.path.basename(path))[0]
    if isinstance(spec, list):
        spec = {"platforms": {stem: spec}}
    library = library.extended(spec, source=path)
    defined = list(dict(spec.get("platforms", {})))
    if choice:
        return library.platform(choice)
    if len(defined) != 1:
        raise HardwareConfigError(
            f"{path}: defines {len(defined)} platforms {defined}; "
            f"choose one with {path}:NAME"
        )
    return library.platform(defined[0])
