"""Fixtures of the runtime tests: the built runtime library and a helper that runs a Graph on it."""
import pytest

from bmxnet_ext import bmx_format


@pytest.fixture(scope="session")
def runtime():
    """The ``bmxnet_ext.runtime`` module with its library loaded; skips when the runtime is not built."""
    from bmxnet_ext import runtime as rt
    try:
        rt.load_library()
    except ImportError as err:
        pytest.skip(str(err))
    return rt


@pytest.fixture
def run_graph(runtime, tmp_path):
    """run_graph(graph, inputs, threads=1) -> (runtime outputs, reference outputs), via a written .bmx file."""
    def run(graph, inputs, threads=1):
        path = tmp_path / "model.bmx"
        bmx_format.write_bmx(str(path), graph.symbol_text(), graph.params, graph.input_shapes)
        with runtime.Model(str(path), threads=threads) as model:
            outs = model.run(*[inputs[name] for name in graph.input_shapes])
        outs = outs if isinstance(outs, list) else [outs]
        return outs, graph.reference(inputs)
    return run

