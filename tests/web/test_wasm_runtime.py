"""The WebAssembly runtime (native/web through web/bmx.js, under Node.js) against the native runtime: bit for
bit on binary layers, within float tolerance on whole converted models, on both WASM instruction sets of the
SIMD128 build and on the build compiled without SIMD."""
import json
import os
import subprocess

import mxnet as mx
import numpy as np
import pytest
from runtime.bmx_graphs import Graph, pack_conv_weights, pack_dense_weights

from bmxnet_ext import bmx_format

from .wasm import RUNNER, run_wasm

# variant: (build, kernels). The SIMD128 build on each of its kernel sets, and bmx_web_portable, the build for
# engines without SIMD (compiled without -msimd128: only the portable kernels, nothing vectorised).
VARIANTS = {"wasm_simd": ("bmx_web", "wasm_simd"), "portable": ("bmx_web", "portable"),
            "no_simd_build": ("bmx_web_portable", "portable")}
BINARY_OPS = ("BmxPack", "BmxBinaryConv2D", "BmxBinaryDense")


def _affine(rng, c):
    return rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)


def _conv_graph(rng, c_in, c_out, hw, kernel, stride, pad, dilate, groups, out_format):
    """data -> pack (affine) -> binary conv; both nodes are outputs."""
    g = Graph()
    x = g.input("data", (1, c_in) + hw)
    scale, bias = _affine(rng, c_in)
    packed = g.op("BmxPack", "pack", [x, g.param("pscale", scale), g.param("pbias", bias)], affine=True,
                  num_group=groups)
    weight = pack_conv_weights(rng.standard_normal((c_out, c_in // groups) + kernel))
    ins = [packed, g.param("weight", weight)]
    if out_format != "int32":
        scale, bias = _affine(rng, c_out)
        ins += [g.param("scale", scale), g.param("bias", bias)]
    conv = g.op("BmxBinaryConv2D", "conv", ins, kernel=kernel, stride=stride, pad=pad, dilate=dilate,
                num_filter=c_out, num_group=groups, in_channels=c_in, out_format=out_format)
    return g.output(packed, conv), (1, c_in) + hw


def _dense_graph(rng, k, n, out_format):
    g = Graph()
    x = g.input("data", (3, k))
    packed = g.op("BmxPack", "pack", [x])
    ins = [packed, g.param("weight", pack_dense_weights(rng.standard_normal((n, k))))]
    if out_format != "int32":
        scale, bias = _affine(rng, n)
        ins += [g.param("scale", scale), g.param("bias", bias)]
    dense = g.op("BmxBinaryDense", "dense", ins, num_hidden=n, in_units=k, out_format=out_format)
    return g.output(packed, dense), (3, k)


GRAPHS = {
    "conv3x3_c70_int32": lambda rng: _conv_graph(rng, 70, 37, (9, 11), (3, 3), (1, 1), (1, 1), (1, 1), 1, "int32"),
    "conv3x3_c256_float": lambda rng: _conv_graph(rng, 256, 64, (7, 7), (3, 3), (1, 1), (1, 1), (1, 1), 1, "float"),
    "conv3x3_s2_d2_g2_packed": lambda rng: _conv_graph(rng, 130, 66, (10, 9), (3, 3), (2, 2), (2, 2), (2, 2), 2,
                                                        "packed"),
    "conv5x5_c2000_float": lambda rng: _conv_graph(rng, 2000, 5, (6, 6), (5, 5), (1, 1), (0, 0), (1, 1), 1, "float"),
    "conv1x1_s2_c64_int32": lambda rng: _conv_graph(rng, 64, 130, (8, 8), (1, 1), (2, 2), (0, 0), (1, 1), 1, "int32"),
    "dense_k200_float": lambda rng: _dense_graph(rng, 200, 33, "float"),
    "dense_k4096_int32": lambda rng: _dense_graph(rng, 4096, 10, "int32"),
    "dense_k70_packed": lambda rng: _dense_graph(rng, 70, 65, "packed"),
}


def _run_variant(request, variant, path, inputs, work_dir):
    """run_wasm on a variant's build (building only that one) and kernels; returns the outputs."""
    build, isa = VARIANTS[variant]
    if build == "bmx_web":
        outputs, report = run_wasm(request.getfixturevalue("wasm_dir"), path, inputs, work_dir, isa=isa)
    else:
        outputs, report = run_wasm(request.getfixturevalue("wasm_portable_dir"), path, inputs, work_dir, simd=False)
    assert (report["build"], report["isa"]) == (build, isa)
    return outputs


def _native(runtime, path, inputs):
    with runtime.Model(str(path)) as model:
        outs = model.run(*inputs)
    return outs if isinstance(outs, list) else [outs]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_binary_operators_bit_exact(request, runtime, tmp_path, rng, case, variant):
    """Pack, binary convolution and dense (int32 / float / packed outputs, channel counts off the 64-bit word,
    strides, dilation, groups, up to 2000 channels): WASM == native runtime == NumPy reference, bit for bit."""
    graph, shape = GRAPHS[case](rng)
    data = rng.standard_normal(shape).astype(np.float32)
    data.flat[::7] = 0.0  # zero maps to +1
    path = tmp_path / "graph.bmx"
    bmx_format.write_bmx(str(path), graph.symbol_text(), graph.params, graph.input_shapes)
    ours = _run_variant(request, variant, path, [data], tmp_path / "wasm")
    native = _native(runtime, path, [data])
    reference = graph.reference({"data": data})
    assert len(ours) == len(native) == len(reference) == 2
    for wasm_out, native_out, ref in zip(ours, native, reference):
        assert wasm_out.dtype == native_out.dtype and wasm_out.shape == native_out.shape
        np.testing.assert_array_equal(wasm_out, native_out)
        np.testing.assert_array_equal(wasm_out, ref)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_tanh_and_sigmoid_bit_exact(request, runtime, tmp_path, rng, variant):
    """The vectorised tanh and sigmoid (native/core/src/common/vector_math.h) round every step alike on every
    instruction set: each WASM variant gives the native runtime's bits, across their range and on a tail off
    the vector width (tests/runtime/test_vector_math.py checks their accuracy)."""
    g = Graph()
    x = g.input("data", (3, 1001))
    g.output(g.op("Activation", "tanh", [x], act_type="tanh"), g.op("Activation", "sigmoid", [x], act_type="sigmoid"))
    data = np.concatenate([np.linspace(-100, 100, 2000), rng.standard_normal(1003) * 3]).astype(np.float32)
    data = data.reshape(3, 1001)
    path = tmp_path / "activations.bmx"
    bmx_format.write_bmx(str(path), g.symbol_text(), g.params, g.input_shapes)
    ours = _run_variant(request, variant, path, [data], tmp_path / "wasm")
    for wasm_out, native_out in zip(ours, _native(runtime, path, [data])):
        np.testing.assert_array_equal(wasm_out, native_out)


def _binary_heads_bmx(mx_dir, prefix, bmx_path, input_shape):
    """Rewrite a converted model (MXNet format) into a .bmx whose outputs are every binary operator's output
    followed by the model's own output; returns the binary operators' node names."""
    with open(os.path.join(mx_dir, f"{prefix}-symbol.json"), encoding="utf-8") as f:
        symbol = json.load(f)
    params = {k.split(":", 1)[-1]: v.asnumpy() for k, v in mx.nd.load(os.path.join(mx_dir, f"{prefix}-0000.params"))
              .items()}
    binary = [i for i, node in enumerate(symbol["nodes"]) if node["op"] in BINARY_OPS]
    symbol["heads"] = [[i, 0, 0] for i in binary] + symbol["heads"]
    data = [n["name"] for n in symbol["nodes"] if n["op"] == "null" and n["name"] not in params]
    bmx_format.write_bmx(str(bmx_path), json.dumps(symbol), params, {data[0]: input_shape})
    return [symbol["nodes"][i]["name"] for i in binary]


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name,shape", [("lenet", (1, 1, 28, 28)), ("resnet18", (1, 3, 64, 64))])
def test_converted_zoo_model(request, runtime, tmp_path, rng, name, shape, variant):
    """A zoo model converted by tools.model_converter: every binary operator's output equals the native
    runtime's bit for bit, the model's output agrees within float tolerance (WASM has no fused multiply-add)."""
    import model_zoo
    from tools.model_converter import convert_block
    mx.random.seed(7)
    block = model_zoo.get_model(name, bits=1)
    block.initialize(mx.init.Xavier())
    # unfused: the .bmx is written from this graph with a head after every binary operator
    convert_block(block, output_dir=str(tmp_path / "mx"), input_shape=shape, prefix="model", fuse=False)
    path = tmp_path / "model.bmx"
    names = _binary_heads_bmx(str(tmp_path / "mx"), "model", path, shape)
    assert len(names) >= 3
    x = rng.standard_normal(shape).astype(np.float32)
    ours = _run_variant(request, variant, path, [x], tmp_path / "wasm")
    native = _native(runtime, path, [x])
    for layer, wasm_out, native_out in zip(names, ours[:-1], native[:-1]):
        np.testing.assert_array_equal(wasm_out, native_out, err_msg=f"binary layer {layer}")
    scale = max(1.0, float(np.abs(native[-1]).max()))
    np.testing.assert_allclose(ours[-1], native[-1], rtol=0, atol=1e-4 * scale)
    assert ours[-1].argmax() == native[-1].argmax()


@pytest.mark.slow
def test_bmxnet_v1_lenet_on_real_digits(wasm_dir, runtime, tmp_path, bmxnet_v1_dir, mnist_dir):
    """BMXNet v1's released LeNet, converted to .bmx, on 500 real MNIST test digits: WASM outputs agree with
    the native runtime's and it predicts the same classes; more than 95 % of the digits are right."""
    from bmxnet_ext.datasets import load_mnist_idx
    from tools.model_converter import convert_bmxnet_v1
    prefix = os.path.join(bmxnet_v1_dir, "binarized_mnist_64bit")
    batch = 500
    convert_bmxnet_v1(prefix + "-symbol.json", prefix + "-0001.params", output_dir=str(tmp_path / "bmx"),
                      input_shape=(batch, 1, 28, 28), output_format="bmx", prefix="lenet")
    images, labels = load_mnist_idx(mnist_dir)
    images, labels = images[:batch], labels[:batch]
    path = tmp_path / "bmx" / "lenet.bmx"
    (ours,), _ = run_wasm(wasm_dir, path, [images], tmp_path / "wasm")
    (native,) = _native(runtime, path, [images])
    np.testing.assert_allclose(ours, native, rtol=0, atol=1e-4 * max(1.0, float(np.abs(native).max())))
    assert (ours.argmax(axis=1) == native.argmax(axis=1)).all()
    assert (ours.argmax(axis=1) == labels).mean() > 0.95


def test_js_api_reads_labels_and_input_convention(wasm_dir, tmp_path):
    """labels and input come from the .bmx file's metadata (options override them); a file without metadata
    has no labels and the runtime's default convention (ImageNet's)."""
    from bmxnet_ext.model_metadata import ModelMetadata
    graph, _ = _dense_graph(np.random.default_rng(2), 70, 3, "int32")
    meta = ModelMetadata(color="BGR", scale=0.5, mean=(1, 2, 3), std=(4, 5, 6), resize="stretch", crop_fraction=0.5,
                         labels=("cat", "dog", "élan"))
    for name, metadata in (("with", meta), ("without", None)):
        bmx_format.write_bmx(str(tmp_path / f"{name}.bmx"), graph.symbol_text(), graph.params, graph.input_shapes,
                             metadata)
    proc = _node(f"""
const rt = await bmx.loadRuntime({{ wasmUrl: {json.dumps('file://' + wasm_dir + '/')} }});
const report = {{}};
for (const name of ["with", "without"]) {{
  const model = await rt.loadModel({json.dumps(str(tmp_path))} + `/${{name}}.bmx`);
  report[name] = [model.labels, model.input];
}}
const override = await rt.loadModel({json.dumps(str(tmp_path / 'with.bmx'))}, {{ labels: ["a", "b", "c"],
                                                                                input: {{ scale: 2 }} }});
report.override = [override.labels, override.input.scale, override.input.color];
console.log(JSON.stringify(report));
""", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["with"] == [["cat", "dog", "élan"], {"color": "bgr", "resize": "stretch", "scale": 0.5,
                                                        "cropFraction": 0.5, "mean": [1, 2, 3], "std": [4, 5, 6],
                                                        "recorded": True}]
    labels, default = report["without"]
    assert labels is None and default["recorded"] is False
    assert default["color"] == "rgb" and default["resize"] == "crop" and default["cropFraction"] == 0.875
    np.testing.assert_allclose(default["mean"], [0.485, 0.456, 0.406])
    np.testing.assert_allclose(default["std"], [0.229, 0.224, 0.225])
    assert report["override"] == [["a", "b", "c"], 2, "bgr"]


def _node(script, tmp_path):
    """Run an ES module snippet under Node.js with bmx.js imported as `bmx`; returns the CompletedProcess."""
    bmx_js = os.path.join(os.path.dirname(RUNNER), "..", "..", "web", "bmx.js")
    path = tmp_path / "snippet.mjs"
    path.write_text(f"import * as bmx from {json.dumps('file://' + os.path.abspath(bmx_js))};\n{script}")
    return subprocess.run(["node", str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_js_api_errors_and_instruction_sets(wasm_dir, tmp_path):
    """bmx.js reports the runtime's errors as BmxError with the C status and message, lists and switches
    instruction sets, rejects inputs of the wrong type or size, and profiles nodes."""
    graph, shape = _dense_graph(np.random.default_rng(1), 70, 3, "int32")
    good = tmp_path / "good.bmx"
    bmx_format.write_bmx(str(good), graph.symbol_text(), graph.params, graph.input_shapes)
    data = good.read_bytes()
    (tmp_path / "corrupt.bmx").write_bytes(data[:-9] + bytes([data[-9] ^ 1]) + data[-8:])
    proc = _node(f"""
const rt = await bmx.loadRuntime({{ wasmUrl: {json.dumps('file://' + wasm_dir + '/')} }});
const report = {{ isas: rt.availableIsas, best: rt.isa }};
rt.setIsa("portable"); report.forced = rt.isa; rt.setIsa(null); report.reset = rt.isa;
try {{ rt.setIsa("avx2"); }} catch (e) {{ report.avx2 = e.message; }}
try {{ await rt.loadModel({json.dumps(str(tmp_path / 'corrupt.bmx'))}); }}
catch (e) {{ report.corrupt = [e.name, e.status, e.message]; }}
const model = await rt.loadModel({json.dumps(str(good))});
report.inputs = model.inputs.map(({{ name, dtype, shape }}) => [name, dtype, shape]);
try {{ model.run(new Float32Array(5)); }} catch (e) {{ report.size = e.message; }}
try {{ model.run(new Int32Array({shape[0] * shape[1]})); }} catch (e) {{ report.type = e.message; }}
model.setProfiling(true);
model.run(new Float32Array({shape[0] * shape[1]}));
report.profile = model.profile().map(({{ op, runs, totalMs }}) => [op, runs, totalMs >= 0]);
model.free();
try {{ model.run(new Float32Array({shape[0] * shape[1]})); }} catch (e) {{ report.freed = e.message; }}
console.log(JSON.stringify(report));
""", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["isas"] == ["portable", "wasm_simd"] and report["best"] == "wasm_simd"
    assert report["forced"] == "portable" and report["reset"] == "wasm_simd"
    assert "'avx2' is not supported by this CPU or build" in report["avx2"]
    assert report["corrupt"][:2] == ["BmxError", 3] and "[invalid model file]" in report["corrupt"][2]
    assert report["inputs"] == [["data", "float32", list(shape)]]
    assert "expected a Float32Array of 210 elements (shape 3x70), got Float32Array of 5" in report["size"]
    assert "got Int32Array of 210" in report["type"]
    assert "the model was freed" in report["freed"]
    assert report["profile"] == [["BmxPack", 1, True], ["BmxBinaryDense", 1, True]]
