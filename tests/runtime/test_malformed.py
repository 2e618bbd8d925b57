"""Malformed, truncated and bit-flipped model files give an error, never a crash.

The mutation loops run in a child process, so a crash shows up as a failing exit status with the mutation
that caused it, not as a dead test session.
"""
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

from bmx_graphs import small_resnet
from bmxnet_ext import bmx_format

FORMAT_ERROR = 3


@pytest.fixture(scope="module")
def model_bytes():
    g = small_resnet(np.random.default_rng(7), channels=64, size=16)
    return bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)


def _fix_crc(blob):
    """Re-seal a mutated body with a valid CRC-32 so the parser itself sees the damage."""
    body = blob[32:]
    return blob[:24] + struct.pack("<I", zlib.crc32(body)) + blob[28:]


def _status(runtime, blob):
    try:
        runtime.Model(bytes(blob)).close()
        return 0
    except runtime.BmxRuntimeError as err:
        assert str(err)  # every failure carries a message
        return err.status


def test_valid_file_loads(runtime, model_bytes):
    assert _status(runtime, model_bytes) == 0


@pytest.mark.parametrize("offset,value,match", [
    (0, b"BMXMODEX", "magic"), (8, struct.pack("<H", 9), "version 9"), (12, struct.pack("<I", 33), "header size"),
    (16, struct.pack("<Q", 10 ** 12), "body has"), (24, struct.pack("<I", 1), "checksum"),
    (28, struct.pack("<I", 1), "flags"),
])
def test_header_errors(runtime, model_bytes, offset, value, match):
    blob = bytearray(model_bytes)
    blob[offset:offset + len(value)] = value
    with pytest.raises(runtime.BmxRuntimeError, match=match):
        runtime.Model(bytes(blob))


def test_huge_counts_are_rejected_without_allocating(runtime, model_bytes):
    blob = bytearray(model_bytes)
    blob[32:36] = struct.pack("<I", 0xFFFFFFFF)  # tensor count
    with pytest.raises(runtime.BmxRuntimeError, match="cannot fit"):
        runtime.Model(_fix_crc(bytes(blob)))


def test_every_truncation_is_an_error(runtime, model_bytes):
    graph_end = bmx_format.read_bmx(model_bytes).graph_end
    lengths = list(range(0, graph_end + 64)) + list(range(graph_end + 64, len(model_bytes), 97))
    for n in lengths:
        assert _status(runtime, model_bytes[:n]) == FORMAT_ERROR, n
    for n in range(0, len(model_bytes), 41):  # truncated but re-sealed: the parser must notice
        blob = bytearray(model_bytes[:n])
        if n >= 32:
            blob[16:24] = struct.pack("<Q", n - 32)
            assert _status(runtime, _fix_crc(bytes(blob))) != 0, n


def test_bit_flips_fail_the_checksum(runtime, model_bytes, rng):
    for bit in rng.choice(len(model_bytes) * 8, 300, replace=False):
        blob = bytearray(model_bytes)
        blob[bit // 8] ^= 1 << (bit % 8)
        assert _status(runtime, blob) != 0, bit


CHILD = textwrap.dedent("""
    import struct, sys, zlib
    import numpy as np
    from bmxnet_ext import runtime
    blob = open(sys.argv[1], "rb").read()
    rng = np.random.default_rng(int(sys.argv[2]))
    graph_end = int(sys.argv[3])
    loaded = 0
    for trial in range(int(sys.argv[4])):
        b = bytearray(blob)
        for _ in range(rng.integers(1, 4)):  # flip bits or write random bytes in the graph block
            pos = int(rng.integers(32, graph_end))
            if rng.random() < 0.5:
                b[pos] ^= 1 << int(rng.integers(8))
            else:
                b[pos] = int(rng.integers(256))
        b[24:28] = struct.pack("<I", zlib.crc32(bytes(b[32:])))
        print(trial, flush=True)
        try:
            m = runtime.Model(bytes(b))
        except runtime.BmxRuntimeError as err:
            assert err.status in (3, 4, 5), err  # format, unsupported, out of memory (huge shapes)
            continue
        loaded += 1
        m.run(*[np.ones(shape, dtype) for _, shape, dtype in m.inputs])
        m.close()
    print("loaded", loaded)
""")


def test_resealed_mutations_never_crash(runtime, model_bytes, tmp_path):
    """Random damage to the graph block behind a valid checksum: an error or a model that runs, no crash."""
    path = tmp_path / "model.bmx"
    path.write_bytes(model_bytes)
    graph_end = bmx_format.read_bmx(model_bytes).graph_end
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), "1", str(graph_end), "1000"],
                          capture_output=True, text=True, timeout=300)
    last = proc.stdout.strip().splitlines()[-1:] or ["none"]
    assert proc.returncode == 0, f"crashed at trial {last}: {proc.stderr[-2000:]}"


@pytest.mark.parametrize("attrs", [{"pad": (2 ** 40, 2 ** 40)}, {"num_filter": 2 ** 62}, {"stride": (-(2 ** 50), 1)}])
def test_huge_attributes_are_rejected(runtime, attrs):
    """Found by fuzzing: integer attributes far outside any real model overflowed size arithmetic."""
    from bmx_graphs import Graph
    g = Graph()
    x = g.input("data", (1, 3, 8, 8))
    conv_attrs = {"kernel": (3, 3), "num_filter": 4, "no_bias": True, **attrs}
    g.op("Convolution", "conv", [x, g.param("w", np.zeros((4, 3, 3, 3), np.float32))], **conv_attrs)
    with pytest.raises(runtime.BmxRuntimeError, match="outside"):
        runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes))


def test_a_folder_is_not_a_model(runtime, tmp_path):
    # a folder opens like a file on Linux and reports a size of LONG_MAX: once an "out of memory" error
    with pytest.raises(runtime.BmxRuntimeError, match="is a folder, not a .bmx file"):
        runtime.Model(str(tmp_path))
    with pytest.raises(runtime.BmxRuntimeError, match="cannot open"):
        runtime.Model(str(tmp_path / "absent.bmx"))
