"""The smaller tools (summary, benchmark, experiments, model store) refuse bad input with one line, writing
nothing; the benchmarks and experiments fail before any measurement or training starts."""
import pytest

from model_zoo import model_store
from tools import summary
from tools.benchmark import __main__ as benchmark
from tools.experiments import __main__ as experiments

SUMMARY, BENCHMARK = "python -m tools.summary", "python -m tools.benchmark"
EXPERIMENTS, STORE = "python -m tools.experiments", "python -m model_zoo.model_store"


@pytest.mark.parametrize("argv, code, fragments", [
    ([], 2, ["required: model"]),
    (["lenet9"], 2, ["invalid choice: 'lenet9'"]),
    (["lenet", "--bits", "0"], 2, ["--bits", "'0'"]),
    (["lenet", "--bits", "33"], 2, ["--bits", "'33'"]),
    (["lenet", "--bits-a", "-1"], 2, ["--bits-a", "'-1'"]),
    (["lenet", "--classes", "0"], 2, ["--classes", "'0'"]),
    (["lenet", "--input-shape", "0,1,28,28"], 2, ["--input-shape", "'0,1,28,28'"]),
    (["lenet", "--input-shape", "x"], 2, ["--input-shape", "'x'"]),
    (["lenet", "--input-shape", "100000,3,224,224"], 2, ["--input-shape", "elements"]),
    (["lenet", "--input-shape", "1,3,5,5"], 1, ["(1, 3, 5, 5)", "lenet"]),
    (["lenet", "--json", "missing/totals.json"], 1, ["missing", "does not exist"]),
    (["lenet", "--frobnicate"], 2, ["unrecognized arguments: --frobnicate"]),
])
def test_summary(bad, argv, code, fragments):
    bad(summary.main, argv, code, *fragments, prog=SUMMARY)


def test_summary_json_onto_a_folder(bad, tmp_path):
    (tmp_path / "totals.json").mkdir()
    bad(summary.main, ["lenet", "--json", "totals.json"], 1, "totals.json", "is a folder", prog=SUMMARY)


@pytest.mark.parametrize("argv, fragments", [
    ([], ["required: command"]),
    (["gpu"], ["invalid choice: 'gpu'"]),
    (["kernels", "--threads", "0"], ["--threads", "'0'"]),
    (["kernels", "--repeat", "0"], ["--repeat", "'0'"]),
    (["kernels", "--peak-seconds", "nan"], ["--peak-seconds", "'nan'"]),
    (["models", "--batch", "0"], ["--batch", "'0'"]),
    (["models", "--size", "-224"], ["--size", "'-224'"]),
    (["models", "--warmup", "-1"], ["--warmup", "'-1'"]),
    (["models", "--threads", "two"], ["--threads", "'two'"]),
    (["runtime", "--threads", "0"], ["--threads", "'0'"]),
    (["runtime", "--rounds", "0"], ["--rounds", "'0'"]),
    (["runtime", "--mxnet-env", "NOVALUE"], ["--mxnet-env", "KEY=VALUE", "'NOVALUE'"]),
    (["runtime", "--mxnet-env", "=1"], ["--mxnet-env", "'=1'"]),
    (["training", "--bits", "0"], ["--bits", "'0'"]),
    (["training", "--input-shape", "1,0,28"], ["--input-shape", "'1,0,28'"]),
    (["training", "--classes", "0"], ["--classes", "'0'"]),
    (["training", "--batch-size", "0"], ["--batch-size", "'0'"]),
    (["training", "--steps", "-10"], ["--steps", "'-10'"]),
    # thread counts beyond bmx-run's 256 hung (kernels) or crashed OpenMP (models) before
    (["kernels", "--threads", "100000"], ["--threads", "from 1 to 256", "'100000'"]),
    (["models", "--threads", "257"], ["--threads", "from 1 to 256", "'257'"]),
    (["runtime", "--threads", "300"], ["--threads", "from 1 to 256", "'300'"]),
    # zoo names: one rule (model_zoo.model_name) for every sub-command, at parsing time
    (["models", "--model", "nosuch"], ["--model", "unknown model 'nosuch'", "lenet"]),
    (["training", "--model", "lenet9"], ["--model", "unknown model 'lenet9'", "did you mean lenet"]),
    (["runtime", "--model", "nosuch"], ["--model", "unknown model 'nosuch'"]),
    (["runtime", "--models", "lenet", "resnet19"], ["--models", "unknown model 'resnet19'", "resnet18"]),
    (["kernels", "--isa", "avx9"], ["--isa", "'avx9'", "portable"]),
    (["kernels", "--shapes", "nosuch,7x7"], ["--shapes", "'nosuch' selects no shape", "resnet18-512x7x7"]),
    (["kernels", "--shapes", "7x7,"], ["--shapes", "'7x7,'"]),
    (["web", "--model", "alexnet"], ["--model", "'alexnet'"]),
    (["web", "--models-source", "no/such/folder"], ["--models-source", "'no/such/folder' does not exist"]),
])
def test_benchmark_flags(bad, monkeypatch, argv, fragments):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # kernels / models preset it; keep the session's environment
    bad(benchmark.main, argv, 2, *fragments, prog=BENCHMARK + (f" {argv[0]}" if len(argv) > 1 else ""))


@pytest.mark.parametrize("argv, fragments", [
    (["models", "--model", "lenet", "--size", "5"], ["'lenet' cannot take 1 x 5 x 5", "--size 28"]),
    (["models", "--model", "lenet", "--size", "100000"], ["--size 100000", "elements"]),
    (["models", "--model", "lenet", "--batch", "100000"], ["--batch 100000", "elements"]),
    (["runtime", "--model", "lenet", "--size", "5"], ["'lenet' cannot take 1 x 5 x 5", "--size 28"]),
    (["training", "--input-shape", "1,5,5"], ["'lenet' cannot take 1 x 5 x 5", "--input-shape 1,28,28"]),
    (["training", "--input-shape", "1,28"], ["--input-shape 1,28", "C,H,W"]),
    (["training", "--batch-size", "100000000"], ["--batch-size 100000000", "elements"]),
])
def test_benchmark_model_and_input_checked_before_measuring(bad, argv, fragments):
    """Flags wrong only together (a model and its input) are usage errors found by shape inference on the
    uninitialised model, before a model is initialised, converted or timed."""
    bad(benchmark.main, argv, 2, *fragments, prog=BENCHMARK)


def test_benchmark_json_into_a_missing_folder_fails_before_measuring(bad):
    bad(benchmark.main, ["training", "--json", "results/t.json"], 1, "results", "does not exist", prog=BENCHMARK)


@pytest.mark.parametrize("command", ["runtime", "web"])
@pytest.mark.parametrize("path, problem", [("no/such/bmx-run", "does not exist"), ("folder", "is not an executable"),
                                           ("notes.txt", "is not an executable")])
def test_benchmark_bmx_run_that_is_not_an_executable(bad, tmp_path, command, path, problem):
    """Refused when parsing, before a model is converted (a relative name was looked up on PATH after it)."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("not a program")
    bad(benchmark.main, [command, "--bmx-run", path], 2, "--bmx-run", f"'{path}' {problem}", "bmxnet_ext/bin/bmx-run",
        prog=f"{BENCHMARK} {command}")


@pytest.mark.parametrize("tool, argv, prog", [
    ("tools.summary", ["lenet", "--json", ""], SUMMARY),
    ("tools.benchmark.__main__", ["training", "--json", " "], BENCHMARK + " training"),
    ("tools.model_converter.__main__", ["a-symbol.json", "a-0000.params", "-o", "out", "--json", ""],
     "bmxnet-convert"),
    ("model_zoo.model_store", ["--root", "", "list"], STORE),
    ("tools.visualize.__main__", ["layers", "--model", "lenet", "--model-root", ""], "bmxnet-visualize layers"),
    ("tools.experiments.__main__", ["visualization", "--model-root", ""], EXPERIMENTS + " visualization"),
    ("tools.experiments.__main__", ["clip", "--data-dir", ""], EXPERIMENTS + " clip"),
    ("tools.train.__main__", ["--data-dir", ""], "bmxnet-train"),
])
def test_empty_paths_are_refused(bad, tool, argv, prog):
    """An empty path was taken for "not given": no JSON written, or the default folder used, silently."""
    import importlib

    flag = [a for a in argv if a.startswith("--")][-1]
    bad(importlib.import_module(tool).main, argv, 2, f"argument {flag}", "expected a file or folder path", prog=prog)


@pytest.mark.parametrize("argv, fragments", [
    (["models", "--models-source", "no/such/folder"], ["--models-source", "'no/such/folder' does not exist"]),
    (["serve", "--models-source", "notes.txt"], ["--models-source", "'notes.txt' is not a folder"]),
])
def test_web_flags(bad, tmp_path, argv, fragments):
    """A bad source folder of the demo models was found only after the WebAssembly build (minutes)."""
    from tools.web.__main__ import PROG, main

    (tmp_path / "notes.txt").write_text("not a folder")
    bad(main, argv, 2, *fragments, prog=PROG)


@pytest.mark.parametrize("argv, fragments", [
    ([], ["required: experiment"]),
    (["dropout"], ["invalid choice: 'dropout'"]),
    (["clip", "--thresholds=-0.5,1"], ["--thresholds", "'-0.5'"]),
    (["clip", "--thresholds", "a"], ["--thresholds", "'a'"]),
    (["clip", "--thresholds", "0.5,,1"], ["--thresholds", "'0.5,,1'"]),
    (["clip", "--epochs", "0"], ["--epochs", "'0'"]),
    (["clip", "--seeds", "-1"], ["--seeds", "'-1'"]),
    (["clip", "--batch-size", "0"], ["--batch-size", "'0'"]),
    (["clip", "--lr", "nan"], ["--lr", "'nan'"]),
    (["clip", "--limit-batches", "0"], ["--limit-batches", "'0'"]),
    (["clip", "--dataset", "imagenet"], ["--dataset", "'imagenet'"]),
    (["densenet", "--configs", "8"], ["--configs", "'8'"]),
    (["densenet", "--configs", "0x2"], ["--configs", "'0'"]),
    (["precision", "--precisions", "W0A1"], ["--precisions", "'W0A1'"]),
    (["precision", "--precisions", "W1"], ["--precisions", "'W1'"]),
    (["scaling", "--modes", "N,X"], ["--modes", "'X'"]),
    (["visualization", "--images", "0"], ["--images", "'0'"]),
    (["visualization", "--lenet-epochs", "-1"], ["--lenet-epochs", "'-1'"]),
    (["visualization", "--dream-steps", "-5"], ["--dream-steps", "'-5'"]),
])
def test_experiment_flags(bad, argv, fragments):
    bad(experiments.main, argv, 2, *fragments, prog=EXPERIMENTS + (f" {argv[0]}" if len(argv) > 1 else ""))


def test_experiment_output_folder_that_is_a_file(bad, tmp_path):
    (tmp_path / "results").write_text("")
    bad(experiments.main, ["precision", "--out-dir", "results", "--epochs", "1"], 1, "results", "is a file",
        prog=EXPERIMENTS)


@pytest.mark.parametrize("argv, code, fragments", [
    ([], 2, ["required: command"]),
    (["fetch"], 2, ["invalid choice: 'fetch'"]),
    (["add"], 2, ["required: FILE_OR_FOLDER"]),
    (["--root", "store", "add", "absent.params"], 1, ["'absent.params'", "is not a file or folder"]),
    (["--root", "store", "add", "/dev/null"], 1, ["'/dev/null'", "is not a file or folder"]),
])
def test_model_store(bad, argv, code, fragments):
    bad(model_store.main, argv, code, *fragments, prog=STORE + (" add" if argv == ["add"] else ""))


def test_model_store_refuses_an_unregistered_file(bad, tmp_path):
    (tmp_path / "weights.params").write_bytes(b"not a released model")
    bad(model_store.main, ["--root", "store", "add", "weights.params"], 1, "weights.params",
        "none of the registered", prog=STORE)


def test_model_store_root_that_is_a_file(bad, tmp_path):
    (tmp_path / "store").write_text("")
    bad(model_store.main, ["--root", "store", "list"], 1, "store", "is a file", prog=STORE)


@pytest.mark.parametrize("argv, code, fragments", [
    (["--epochs", "0"], 2, ["--epochs", "'0'"]),
    (["--lr", "nan"], 2, ["--lr", "'nan'"]),
    (["--latency-runs", "-5"], 2, ["--latency-runs", "'-5'"]),
    (["--out-dir", "results"], 1, ["results", "is a file"]),
])
def test_main_job(bad, tmp_path, argv, code, fragments):
    from tools import main_job

    (tmp_path / "results").write_text("")
    bad(main_job.main, argv, code, *fragments, prog="python -m tools.main_job")


@pytest.mark.parametrize("tool, argv, code, fragments", [
    ("fuzz_readers", ["--seconds", "0"], 2, ["--seconds", "'0'"]),
    ("fuzz_readers", ["--target", "bmx"], 2, ["--target", "'bmx'"]),
    ("fuzz_runtime", ["--jobs", "-1"], 2, ["--jobs", "'-1'"]),
    ("fuzz_runtime", ["--clang", "no-such-clang++", "--build-dir", "fuzz"], 1, ["no-such-clang++ not found"]),
])
def test_fuzzers(bad, tool, argv, code, fragments):
    import importlib

    module = importlib.import_module(f"tools.{tool}")
    bad(module.main, argv, code, *fragments, prog=f"python tools/{tool}.py")
