"""Layer geometry: the output size and padding of a same-padded convolution.

The one definition of a layer's shape rule (docs/design.md section 4's
``P``), which the cost model, the optimizer, the child network, its CPU
convolutions and the HLS export all use: a layer of kernel K and stride S
on an axis of R pixels has ``ceil(R / S)`` outputs, padded by
``P = (K - 1) // 2`` before the axis and by what those outputs need after
it (equal to "SAME" for stride 1, and PyTorch's ``padding=P`` for odd K).
"""

from __future__ import annotations


def out_size(size, stride):
    """Outputs of a same-padded conv along one axis: ``ceil(size / stride)``.

    Works on Python ints and elementwise on integer ``numpy`` / ``jax.numpy``
    arrays.
    """
    return -(-size // stride)


def padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero padding of one spatial axis.

    ``before = (K - 1) // 2``; ``after`` is what ``ceil(size / stride)``
    outputs need (never negative).
    """
    lo = (kernel - 1) // 2
    need = (out_size(size, stride) - 1) * stride + kernel - size
    return lo, max(need - lo, 0)
