"""tools.plot_quantizers: one PNG per quantizer, of the values the quantizer computes."""
import numpy as np

from bmxnet_ext import quantizers
from tools import plot_quantizers


def test_every_quantizer_is_plotted_from_its_own_values(tmp_path):
    names = [name for name, _, _ in plot_quantizers.cases()]
    assert set(names) == (set(quantizers.REGISTRY) - {"dorefa"}) | {"dorefa_activations", "dorefa_weights"}
    x = np.float32([-1.5, -1.0, -0.0, 0.0, 0.5, 1.0, 1.5])
    y, grad = plot_quantizers.evaluate(quantizers.SteSign(), x)
    np.testing.assert_array_equal(y, [-1, -1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(grad, [0, 1, 1, 1, 1, 1, 0])
    assert plot_quantizers.main([str(tmp_path / "plots")]) is None
    files = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert files == sorted(f"{n}.png" for n in names)
    assert all((tmp_path / "plots" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)


def test_missing_parent_folder_is_one_error_line(tmp_path, capsys):
    from bmxnet_ext.cli import run
    assert run(plot_quantizers.PROG, plot_quantizers.main, [str(tmp_path / "no" / "plots")]) == 1
    assert capsys.readouterr().err.startswith(f"{plot_quantizers.PROG}: error: cannot write")
