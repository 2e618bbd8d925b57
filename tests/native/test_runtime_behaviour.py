"""Library-level behaviour: the peak microbenchmark, and concurrent calls from several threads."""
import threading

import numpy as np
import pytest

from bmxnet_ext import native
from . import reference


def test_peak_is_positive_for_every_isa_and_checks_arguments():
    for isa in native.available_isas():
        assert native.peak_macs_per_second(isa, threads=1, seconds=0.02) > 1e8
    with pytest.raises(ValueError, match="Expected an instruction set"):
        native.peak_macs_per_second("sse9")
    with pytest.raises(ValueError, match="threads >= 1"):
        native.peak_macs_per_second(native.available_isas()[0], threads=0)


def test_concurrent_calls_from_many_threads_are_exact(rng, threads):
    # The pool runs one parallel loop at a time; a second caller runs its tasks itself, with its own scratch.
    native.set_num_threads(2)
    cases = []
    for i in range(6):
        x = rng.standard_normal((1, 37 + 20 * i, 9, 11)).astype(np.float32)
        w = rng.standard_normal((16, x.shape[1], 3, 3)).astype(np.float32)
        cases.append((x, w, reference.conv2d(x, w, pad=(1, 1))))
    errors = []

    def work(case):
        x, w, expected = case
        for _ in range(20):
            got = native.binary_conv2d(native.pack_activations(x), native.pack_conv_weights(w),
                                       in_channels=x.shape[1], pad=1)
            if not np.array_equal(got, expected):
                errors.append(x.shape)

    workers = [threading.Thread(target=work, args=(case,)) for case in cases]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors
