"""Build the WebAssembly runtime (native/web) once and run .bmx models on it under Node.js via web/bmx.js."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(REPO, "tests", "web", "run_model.mjs")
_DTYPES = {"float32": np.float32, "int32": np.int32, "uint64": np.uint64}


def require_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found (docs/web.md lists the packages)")


def build_wasm(target="bmx_web"):
    """The folder of ``<target>.mjs`` / ``.wasm`` (``bmx_web``: SIMD128, ``bmx_web_portable``: no SIMD), built
    by ``tools.web.build`` in ``build/web`` (incremental, one folder for both); skips without Emscripten, CMake
    or Node.js."""
    require_tools("emcc", "emcmake", "cmake", "node")
    from tools.web.build import build
    return build(targets=(target,))


def run_wasm(wasm_dir, model_path, inputs, work_dir, isa=None, simd="auto"):
    """Run ``model_path`` on ``inputs`` (arrays, one per model input) in Node.js; ``isa`` forces the kernels,
    ``simd`` picks the build as ``loadRuntime`` does (False: ``bmx_web_portable``, built without SIMD).
    Returns (list of output arrays, the runner's report dict)."""
    work_dir = str(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    paths = []
    for i, array in enumerate(inputs):
        paths.append(os.path.join(work_dir, f"input{i}.bin"))
        np.ascontiguousarray(array).tofile(paths[-1])
    request = os.path.join(work_dir, "request.json")
    with open(request, "w", encoding="utf-8") as f:
        json.dump({"wasm": wasm_dir, "model": str(model_path), "isa": isa, "simd": simd, "inputs": paths,
                   "output_dir": work_dir}, f)
    proc = subprocess.run(["node", RUNNER, request], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    outputs = [np.fromfile(os.path.join(work_dir, f"output{i}.bin"), _DTYPES[o["dtype"]]).reshape(o["shape"])
               for i, o in enumerate(report["outputs"])]
    return outputs, report
