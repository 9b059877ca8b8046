"""A small design space shared by the optimizer and fast-exploration tests
(one compiled program for both): three FPGAs, 32 declared tilings each, and
2-3 layer architectures, small enough for brute-force enumeration."""

from cosearch.hardware.architecture import Architecture
from cosearch.hardware.devices import Library, Platform
from cosearch.hardware.grid import DeviceGrid

LIB = Library()
INPUT = (16, 16, 3)
# Small grid: 2 * 2 * 2 * 1 * 2 * 1 * 2 = 32 declared tilings per device.
SMALL = DeviceGrid(
    tm=(4, 16), tn=(2, 8), tr=(8, 16), tc=(16,), wp=(1, 4), ip=(2,), op=(1, 4)
)
POOL = Platform(
    "tiny3", tuple(LIB.device(n) for n in ("XC7A50T", "XC7Z020", "XC7Z020"))
)
ARCHS = [
    Architecture.parse("3,24,1;5,36,2;1,48,1"),
    Architecture.parse("7,36,1;1,24,1;3,64,1"),
    Architecture.parse("1,48,1;3,24,1"),
]
