"""cosearch: co-exploration of CNN architectures and multi-FPGA accelerators."""

__version__ = "0.1.0"
