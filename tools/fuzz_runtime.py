"""Fuzz the standalone runtime's model loader with libFuzzer (coverage-guided, AddressSanitizer + UBSan).

    python tools/fuzz_runtime.py --seconds 300            # build (clang) and fuzz for 5 minutes

Builds ``native/runtime/fuzz/fuzz_loader.cc`` together with the runtime and the native core using
``clang++ -fsanitize=fuzzer,address,undefined`` into ``build/fuzz/``, then runs it on a copy of the seed
corpus ``native/runtime/fuzz/corpus/`` (small valid ``.bmx`` models; the repository's copy is never modified).
The target re-seals each input's checksum so mutations reach the parser (see the target's comment); valid
small models are also run once. Any crash, sanitizer report, leak or timeout makes libFuzzer stop and write
the input to ``build/fuzz/crash-*``; this script then exits non-zero. (atheris was considered: it only
measures coverage of Python code unless the native library is built with clang's fuzzer instrumentation, so
libFuzzer on the C++ target directly is the stronger tool here.)
"""
import glob
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bmxnet_ext.cli import ArgumentParser, ToolError, positive_int, run  # noqa: E402

PROG = "python tools/fuzz_runtime.py"
RUNTIME = os.path.join(REPO, "native", "runtime")
CORPUS = os.path.join(RUNTIME, "fuzz", "corpus")


def parse_args(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=positive_int, default=120, help="fuzzing time (default: 120)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel fuzzing processes (default: 1)")
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "fuzz"),
                        help="where the fuzzer, its working corpus and crash files go (default: build/fuzz)")
    parser.add_argument("--clang", default="clang++", help="clang++ executable (default: clang++)")
    return parser.parse_args(argv)


def build(clang, build_dir):
    """Compile the target and the runtime with clang's fuzzer and sanitizer instrumentation, and link the
    native core built separately by g++ (uninstrumented: the core's peak-throughput loops use GCC inline-asm
    constraints clang rejects, and the loader, not the kernels, is what is fuzzed). Returns the executable."""
    if shutil.which(clang) is None:
        raise ToolError(f"{clang} not found: install clang (Debian: apt-get install clang libclang-rt-14-dev) or "
                        "name it with --clang (e.g. clang++-14)")
    os.makedirs(os.path.join(build_dir, "core"), exist_ok=True)
    core_include = os.path.join(REPO, "native", "core", "include")
    objects = []
    for source in sorted(glob.glob(os.path.join(REPO, "native", "core", "src", "**", "*.cc"), recursive=True)):
        obj = os.path.join(build_dir, "core", os.path.relpath(source, REPO).replace(os.sep, "_") + ".o")
        if not os.path.exists(obj) or os.path.getmtime(obj) < os.path.getmtime(source):
            subprocess.run(["g++", "-std=c++17", "-O2", "-c", "-I", core_include, "-o", obj, source], check=True)
        objects.append(obj)
    sources = sorted(glob.glob(os.path.join(RUNTIME, "src", "**", "*.cc"), recursive=True))
    sources.append(os.path.join(RUNTIME, "fuzz", "fuzz_loader.cc"))
    exe = os.path.join(build_dir, "fuzz_loader")
    cmd = [clang, "-std=c++17", "-O1", "-g", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined",
           "-I", os.path.join(RUNTIME, "include"), "-I", os.path.join(RUNTIME, "src"), "-I", core_include,
           "-pthread", "-o", exe, *sources, *objects]
    print("building", exe, flush=True)
    subprocess.run(cmd, check=True)
    return exe


def main(argv=None):
    return run(PROG, _main, argv)


def _main(argv):
    args = parse_args(argv)
    exe = build(args.clang, args.build_dir)
    work = os.path.join(args.build_dir, "corpus")
    os.makedirs(work, exist_ok=True)
    for seed in glob.glob(os.path.join(CORPUS, "*")):
        shutil.copy(seed, work)
    # A small file may legitimately describe huge activations: the loader then reserves the arena (untouched
    # until a run, and the target runs only small models), so single allocations up to 64 GiB are allowed
    # while the process's resident memory stays limited to 4 GiB.
    cmd = [exe, work, f"-max_total_time={args.seconds}", "-max_len=65536", "-timeout=10", "-rss_limit_mb=4096",
           "-malloc_limit_mb=65536",
           f"-artifact_prefix={args.build_dir}/", "-print_final_stats=1"]
    if args.jobs > 1:
        cmd += [f"-jobs={args.jobs}", f"-workers={args.jobs}"]
    print(" ".join(cmd), flush=True)
    def artifacts():
        return {path for kind in ("crash", "leak", "timeout", "oom")
                for path in glob.glob(os.path.join(args.build_dir, f"{kind}-*"))}

    before = artifacts()
    status = subprocess.run(cmd, env={**os.environ, "ASAN_OPTIONS": "allocator_may_return_null=1"}).returncode
    crashes = sorted(artifacts() - before)
    print(f"libFuzzer exit status {status}; new crash/leak/timeout files: {crashes or 'none'}; working corpus "
          f"{len(os.listdir(work))} inputs in {work}")
    return 0 if status == 0 and not crashes else 1


if __name__ == "__main__":
    sys.exit(main())
