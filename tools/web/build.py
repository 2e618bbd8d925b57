"""Build the WebAssembly runtime (``native/web``) with Emscripten and CMake, incrementally, in ``build/web``."""
import os
import shutil
import subprocess

from bmxnet_ext.cli import ToolError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(REPO, "native", "web")
BUILD_DIR = os.path.join(REPO, "build", "web")
TARGETS = ("bmx_web", "bmx_web_portable")
"""The SIMD128 module and the one for engines without SIMD (web/bmx.js picks one)."""
DEBIAN_NODE_PATH = "/usr/share/nodejs"
"""Where Debian's ``node-acorn`` lives: Emscripten's JavaScript optimizer imports acorn from there."""


def _environment():
    env = dict(os.environ)
    if os.path.isdir(DEBIAN_NODE_PATH):
        env["NODE_PATH"] = os.pathsep.join(p for p in (env.get("NODE_PATH"), DEBIAN_NODE_PATH) if p)
    return env


def _run(command, timeout):
    proc = subprocess.run(command, capture_output=True, text=True, env=_environment(), timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout[-2000:] + proc.stderr[-2000:]).strip()
        raise ToolError(f"`{' '.join(command)}` failed (exit {proc.returncode}): {tail}")


def build(targets=TARGETS, build_dir=BUILD_DIR, jobs=2, timeout=1200):
    """Configure (once) and build ``targets``; returns ``build_dir``, which holds ``<target>.mjs`` / ``.wasm``.

    Raises :class:`ToolError` when Emscripten or CMake is missing or the build fails."""
    missing = [tool for tool in ("emcmake", "emcc", "cmake") if shutil.which(tool) is None]
    if missing:
        raise ToolError(f"{', '.join(missing)} not found: install Emscripten and CMake (Debian: apt-get install "
                        "emscripten node-acorn cmake)")
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise ToolError(f"Expected targets among {', '.join(TARGETS)}, got {', '.join(unknown)}")
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        _run(["emcmake", "cmake", "-S", SOURCE, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", *generator], timeout)
    _run(["cmake", "--build", build_dir, "-j", str(jobs), "--target", *targets], timeout)
    return build_dir
