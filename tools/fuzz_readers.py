"""Fuzz the model readers written in Python with libFuzzer (through atheris): the BMXNet v1 reader
(:func:`bmxnet_ext.bmxnet_v1.read_v1_model` + :func:`~bmxnet_ext.bmxnet_v1.check_shapes`) and the converter's
params reader (:func:`tools.model_converter.graph.read_mxnet_model`).

    python tools/fuzz_readers.py --seconds 300 [--target v1|params|both]

The contract checked: whatever the bytes, a reader returns or raises ``ValueError`` (``ConversionError`` is
one) or ``FileNotFoundError`` whose message is one line naming the problem; any other exception (an
``IndexError`` or ``KeyError`` escaping, a message that is a stack trace header) is a finding, and a crash
inside MXNet's C++ loader ends the process with libFuzzer's report. atheris measures coverage of the Python
readers (instrumented on import), so mutations are guided through their checks; the inputs are

- byte 0 chooses the case: raw bytes as the symbol file, raw bytes as the params file, or an edit of a valid
  model (one node attribute, input or head index, or one params array's shape or dtype, set from the data);
- the rest are the bytes or the edit.

A finding stops the run: the traceback is printed, the input written to ``build/fuzz-readers/crash-*``, and
the process exits non-zero (libFuzzer's status).
(The C++ ``.bmx`` loader has its own libFuzzer target: ``tools/fuzz_runtime.py``.)
"""
import json
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bmxnet_ext.cli import ArgumentParser, ToolError, positive_int, run  # noqa: E402

PROG = "python tools/fuzz_readers.py"

ALLOWED = (ValueError, FileNotFoundError)
"""What a reader may raise on bad bytes."""

V1_INPUT = (1, 1, 8, 8)


def v1_model():
    """A valid small BMXNet v1 model: (graph dict, {key: NumPy array}). Float conv -> QActivation -> QConvolution
    (packed float64 words) -> Flatten -> FullyConnected -> SoftmaxOutput, for input ``V1_INPUT``."""
    import numpy as np

    from bmxnet_ext.bmxnet_v1 import pack_v1_words

    def node(op, name, inputs=(), **attrs):
        return {"op": op, "name": name, "attrs": {k: str(v) for k, v in attrs.items()},
                "inputs": [[i, 0, 0] for i in inputs]}
    nodes = [node("null", "data"), node("null", "conv0_weight"), node("null", "conv0_bias"),
             node("Convolution", "conv0", (0, 1, 2), kernel="(3, 3)", num_filter=64),
             node("QActivation", "qact0", (3,), act_bit=1), node("null", "qconv0_weight"),
             node("QConvolution", "qconv0", (4, 5), kernel="(3, 3)", num_filter=64, no_bias="True",
                  binarized_weights_only="True", act_bit=1, weight_bit=1),
             node("Flatten", "flat0", (6,)), node("null", "fc0_weight"), node("null", "fc0_bias"),
             node("FullyConnected", "fc0", (7, 8, 9), num_hidden=10),
             node("null", "softmax_label"), node("SoftmaxOutput", "softmax", (10, 11))]
    rng = np.random.default_rng(0)
    params = {"arg:conv0_weight": rng.standard_normal((64, 1, 3, 3)).astype(np.float32),
              "arg:conv0_bias": rng.standard_normal(64).astype(np.float32),
              "arg:qconv0_weight": pack_v1_words(rng.standard_normal(64 * 64 * 9)),
              "arg:fc0_weight": rng.standard_normal((10, 1024)).astype(np.float32),
              "arg:fc0_bias": rng.standard_normal(10).astype(np.float32)}
    return {"nodes": nodes, "arg_nodes": [0, 1, 2, 5, 8, 9, 11], "heads": [[12, 0, 0]]}, params


class Harness:
    """Files in a scratch folder, rewritten for every input; ``run(data)`` checks one input."""

    def __init__(self, target, folder):
        import mxnet as mx

        self.mx, self.target = mx, target
        self.graph, self.params = v1_model()
        self.symbol_file = os.path.join(folder, "m-symbol.json")
        self.params_file = os.path.join(folder, "m-0000.params")
        self.valid_symbol = json.dumps(self.graph).encode()
        self.valid_params = self._params_bytes(self.params)

    def _params_bytes(self, params):
        path = self.params_file + ".seed"
        self.mx.nd.save(path, {k: self.mx.nd.array(v, dtype=v.dtype) for k, v in params.items()})
        with open(path, "rb") as f:
            return f.read()

    def seeds(self):
        """Inputs that reach every case: the valid model as raw symbol, raw params, and a no-op edit."""
        return [b"\0" + self.valid_symbol, b"\1" + self.valid_params, b"\2" + bytes(16)]

    def _edited(self, data):
        import atheris
        import numpy as np

        fdp = atheris.FuzzedDataProvider(data)
        graph, params = json.loads(self.valid_symbol), dict(self.params)
        nodes = graph["nodes"]
        what = fdp.ConsumeIntInRange(0, 5)
        node = nodes[fdp.ConsumeIntInRange(0, len(nodes) - 1)]
        if what == 0:  # an attribute value
            key = fdp.PickValueInList(["num_filter", "num_hidden", "kernel", "act_bit", "weight_bit", "num_group",
                                       "binarized_weights_only", "no_bias", "stride", "pad", "attr"])
            node.setdefault("attrs", {})[key] = fdp.ConsumeUnicodeNoSurrogates(12)
        elif what == 1:  # an input index
            if node["inputs"]:
                node["inputs"][fdp.ConsumeIntInRange(0, len(node["inputs"]) - 1)][0] = fdp.ConsumeIntInRange(-3, 20)
        elif what == 2:  # the heads
            graph["heads"] = [[fdp.ConsumeIntInRange(-3, 20), fdp.ConsumeIntInRange(-1, 2), 0]
                              for _ in range(fdp.ConsumeIntInRange(0, 2))]
        elif what == 3:  # an operator
            node["op"] = fdp.PickValueInList(["null", "QConvolution", "QFullyConnected", "QActivation",
                                              "Convolution", "FullyConnected", "Flatten", "BatchNorm", "Pooling",
                                              "SoftmaxOutput", "NoSuchOp"])
        else:  # a params array: new shape (what 4) or dtype (what 5)
            key = fdp.PickValueInList(sorted(params))
            size = fdp.ConsumeIntInRange(0, 5000)
            dtype = np.float64 if what == 4 else fdp.PickValueInList([np.float32, np.float64, np.int64, np.uint8])
            values = np.frombuffer(fdp.ConsumeBytes(8 * size).ljust(8 * size, b"\0"), np.float64)
            params[key] = values.astype(dtype) if what == 5 else values
        return json.dumps(graph).encode(), self._params_bytes(params)

    def run(self, data):
        if not data:
            return
        case = data[0] % 3
        if case == 0:
            symbol, params = data[1:], self.valid_params
        elif case == 1:
            symbol, params = self.valid_symbol, data[1:]
        else:
            symbol, params = self._edited(data[1:])
        for path, content in ((self.symbol_file, symbol), (self.params_file, params)):
            with open(path, "wb") as f:
                f.write(content)
        if self.target in ("v1", "both"):
            self._check(self._read_v1)
        if self.target in ("params", "both"):
            self._check(self._read_params)

    def _read_v1(self):
        from bmxnet_ext import bmxnet_v1

        model = bmxnet_v1.read_v1_model(self.symbol_file, self.params_file)
        bmxnet_v1.check_shapes(model, V1_INPUT)

    def _read_params(self):
        from tools.model_converter.graph import read_mxnet_model

        read_mxnet_model(self.symbol_file, self.params_file)

    @staticmethod
    def _check(read):
        try:
            read()
        except ALLOWED as err:
            message = str(err)
            if "\n" in message.strip() or message.strip().endswith("Traceback (most recent call last):"):
                raise AssertionError(f"{type(err).__name__} message is not one line: {message!r:.300}") from err


def parse_args(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=positive_int, default=120, help="fuzzing time (default: 120)")
    parser.add_argument("--target", choices=("v1", "params", "both"), default="both",
                        help="reader(s) to fuzz (default: both)")
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "fuzz-readers"),
                        help="working corpus and findings (default: build/fuzz-readers)")
    return parser.parse_args(argv)


def main(argv=None):
    return run(PROG, _main, argv)


def _main(argv):
    args = parse_args(argv)
    try:
        import atheris
    except ImportError:
        raise ToolError("atheris is not installed: pip install atheris (it is in the test extras)") from None
    corpus = os.path.join(args.build_dir, "corpus")
    os.makedirs(corpus, exist_ok=True)
    with atheris.instrument_imports(include=["bmxnet_ext.bmxnet_v1", "tools.model_converter.graph"]):
        from bmxnet_ext import bmxnet_v1  # noqa: F401
        from tools.model_converter import graph  # noqa: F401
    scratch = tempfile.mkdtemp(prefix="bmx-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    harness = Harness(args.target, scratch)
    for i, seed in enumerate(harness.seeds()):
        with open(os.path.join(corpus, f"seed-{i}"), "wb") as f:
            f.write(seed)
    libfuzzer_args = [sys.argv[0], corpus, f"-max_total_time={args.seconds}", "-max_len=300000",
                      "-timeout=20", "-rss_limit_mb=4096", f"-artifact_prefix={args.build_dir}/",
                      "-print_final_stats=1"]
    print(" ".join(libfuzzer_args), flush=True)
    atheris.Setup(libfuzzer_args, harness.run)
    atheris.Fuzz()  # ends the process: 0 when the time is up, non-zero with a crash-* file on a finding


if __name__ == "__main__":
    sys.exit(main())
