"""Build and install bmxnet-ext: the Python packages and the native C++ core.

The native code is plain C++17 compiled by setuptools; no hand steps. ``native/core`` is built once as the
shared library ``bmxnet_ext/libbmxcore.so``, which every front end links with an ``$ORIGIN`` run path (the
Python binding, the MXNet operator library, the standalone runtime's C API): a process holds one core, so one
instruction-set choice, one thread pool and one set of scratch buffers serve all of them. Instruction-set
specific files select their ISA with ``#pragma GCC target`` so every file shares one set of compiler flags
and the choice among them is made at run time by CPU dispatch.
"""
import glob
import os

from setuptools import Extension, find_packages, setup
from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext

ParallelCompile("BMX_BUILD_JOBS", default=2).install()

CXX_FLAGS = ["-std=c++17", "-O3", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra"]
CORE_INCLUDE = os.path.join("native", "core", "include")
RUNTIME_INCLUDE = os.path.join("native", "runtime", "include")


def native_sources(folder):
    """All C++ sources below ``native/<folder>``, sorted so builds are reproducible."""
    return sorted(glob.glob(os.path.join("native", folder, "**", "*.cc"), recursive=True))


CORE = "bmxnet_ext.libbmxcore"  # the module-style name under which build_ext builds the core library


def core_headers():
    return sorted(glob.glob(os.path.join("native", "core", "**", "*.h"), recursive=True))


def extensions():
    """The core library and the extension modules whose sources exist in this checkout.

    - ``bmxnet_ext/libbmxcore.so``: the native core (``native/core``), a plain shared library; its public
      API is ``native/core/include/bmx`` (symbols marked BMX_API, everything else hidden).
    - ``bmxnet_ext._native``: pybind11 binding of the core (``native/python``).
    - ``bmxnet_ext._mxnet_op``: MXNet extension library with the binary operators (``native/mxnet_op``),
      a plain C-ABI shared library loaded by ``mx.library.load``.
    - ``bmxnet_ext._runtime``: the standalone runtime's C API (``native/runtime/src``), used from Python via
      ctypes for tests; the runtime also builds without Python through its own CMakeLists.
    """
    core_sources = native_sources(os.path.join("core", "src"))
    if not core_sources:
        return []
    # the front ends find the core next to themselves; every object depends on every core header
    linked = dict(include_dirs=[CORE_INCLUDE], libraries=["bmxcore"], depends=core_headers(),
                  extra_compile_args=CXX_FLAGS, extra_link_args=["-pthread", "-Wl,-rpath,$ORIGIN"])
    exts = [Extension(CORE, core_sources, language="c++", include_dirs=[CORE_INCLUDE], depends=core_headers(),
                      extra_compile_args=CXX_FLAGS, extra_link_args=["-pthread", "-Wl,-soname,libbmxcore.so"])]
    if native_sources("python"):
        exts.append(Pybind11Extension("bmxnet_ext._native", native_sources("python"), cxx_std=17, **linked))
    for name, folder in (("_mxnet_op", "mxnet_op"), ("_runtime", os.path.join("runtime", "src"))):
        if native_sources(folder):
            exts.append(Extension(f"bmxnet_ext.{name}", native_sources(folder), language="c++",
                                  **dict(linked, include_dirs=[CORE_INCLUDE, os.path.join("native", folder),
                                                               RUNTIME_INCLUDE])))
    return exts


def image_libraries():
    """``(macros, libraries)`` for the JPEG / PNG decoders of ``bmx-run`` whose headers this system has."""
    found = [(macro, lib) for header, macro, lib in (("jpeglib.h", "BMX_WITH_JPEG", "jpeg"),
                                                      ("png.h", "BMX_WITH_PNG", "png"))
             if any(os.path.exists(os.path.join(d, header)) for d in ("/usr/include", "/usr/local/include"))]
    return [(macro, None) for macro, _ in found], [lib for _, lib in found]


class BuildNative(build_ext):
    """Build the core as ``libbmxcore.so`` first, then the front ends that link it (also for
    ``build_ext --inplace`` and editable installs, which copy every output, the core included, into the
    source tree), then the standalone runtime's command-line tool ``bmx-run`` as package data
    (``bmxnet_ext/bin/bmx-run``, run by the ``bmx-run`` console script, ``tools/bmx_run.py``)."""

    def get_ext_filename(self, fullname):
        # asked with the dotted name and with its last part alone (distutils' get_ext_fullpath)
        if fullname.split(".")[-1] == CORE.split(".")[-1]:
            return os.path.join(*fullname.split(".")[:-1], "libbmxcore.so")
        return super().get_ext_filename(fullname)

    def build_extension(self, ext):
        if ext.name != CORE:  # link against the core just built (in build_lib: inplace copies come afterwards)
            ext.library_dirs = [os.path.dirname(self.get_ext_fullpath(CORE))]
        super().build_extension(ext)

    def run(self):
        super().run()
        if native_sources("runtime") and native_sources(os.path.join("core", "src")):
            self.build_runtime_cli()

    def build_runtime_cli(self):
        """Compile ``bmx-run`` beside the package's ``libbmxcore.so`` (found through ``$ORIGIN/..``)."""
        sources = native_sources(os.path.join("runtime", "src")) + native_sources(os.path.join("runtime", "cli"))
        folder = os.path.join("bmxnet_ext", "bin")
        in_source_tree = self.inplace or getattr(self, "editable_mode", False)
        target = os.path.join(folder if in_source_tree else os.path.join(self.build_lib, folder), "bmx-run")
        depends = sources + core_headers() + native_sources(os.path.join("core", "src")) + glob.glob(
            os.path.join("native", "runtime", "**", "*.h"), recursive=True)
        if not self.force and os.path.exists(target) and \
                os.path.getmtime(target) >= max(os.path.getmtime(f) for f in depends):
            return
        macros, image_libs = image_libraries()
        objects = self.compiler.compile(
            sources, output_dir=os.path.join(self.build_temp, "bmx-run"), macros=macros,
            include_dirs=[CORE_INCLUDE, RUNTIME_INCLUDE, os.path.join("native", "runtime", "src")],
            extra_postargs=CXX_FLAGS)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self.compiler.link_executable(
            objects, "bmx-run", output_dir=os.path.dirname(target), libraries=["bmxcore", *image_libs],
            library_dirs=[os.path.dirname(self.get_ext_fullpath(CORE))],
            extra_postargs=["-pthread", "-Wl,-rpath,$ORIGIN/.."], target_lang="c++")


setup(
    name="bmxnet-ext",
    version="0.1.0",
    description="Binary neural networks for MXNet Gluon: layers, model zoo, converter and native kernels",
    long_description=open("README.md", encoding="utf-8").read() if os.path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.8",
    packages=find_packages(include=["bmxnet_ext*", "model_zoo*", "tools*"]),
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildNative},
    entry_points={"console_scripts": ["bmxnet-train = tools.train.__main__:main",
                                      "bmxnet-convert = tools.model_converter.__main__:main",
                                      "bmx-run = tools.bmx_run:main",
                                      "bmxnet-visualize = tools.visualize.__main__:console_main"]},
    install_requires=[
        "mxnet==1.9.1",
        "numpy>=1.17,<1.24",
        "gluoncv",  # image-data presets and the distillation loss of bmxnet-train
        "opencv-python",  # the one OpenCV: gluoncv requires this package, a second (headless) one would clash
    ],
    extras_require={
        "test": ["pytest>=7", "scikit-learn", "tensorboardX", "atheris"],  # atheris: tools/fuzz_readers.py
        "train": ["scikit-learn", "matplotlib", "tqdm", "tensorboardX"],
    },
    zip_safe=False,
)
