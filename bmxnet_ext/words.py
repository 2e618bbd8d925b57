"""The packed word of ``docs/conventions.md``: its size and how many of them hold a vector.

A vector of ``K`` binary values is stored in ``words_for(K) = ceil(K / 64)`` words of ``WORD_BITS = 64`` bits.
This is the Python home of the rule, importable without the compiled extension (model summaries, file
formats); the C++ core's home is ``native/core/include/bmx/types.h`` and :mod:`bmxnet_ext.native` checks at
import that the two agree.
"""
__all__ = ["WORD_BITS", "WORD_BYTES", "words_for"]

WORD_BITS = 64
WORD_BYTES = WORD_BITS // 8


def words_for(bits):
    """Number of words that hold ``bits`` bits: ``ceil(bits / WORD_BITS)``."""
    return -(-int(bits) // WORD_BITS)
