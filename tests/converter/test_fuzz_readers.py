"""The readers' fuzz harness (``tools/fuzz_readers.py``): its seeds pass, and the inputs its runs found (each
once an escaping ``IndexError``, ``TypeError`` or ``MXNetError``) now end in a one-line ``ValueError``."""
import base64

import pytest

pytest.importorskip("atheris")

from tools.fuzz_readers import Harness  # noqa: E402

FOUND = {
    "AgAA9wACAAAAAAACCgA=": "an attribute the operator does not take (MXNetError from the symbol API)",
    "AkQAAgICd3d3d3fn": "an operator without its input (IndexError)",
    "AinZMuc/": "an attribute called 'name' (TypeError)",
    "AtsCnZ0DnWzsAgI=": "a graph whose shapes cannot be inferred (infer_shape returned None)",
}


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return Harness("both", str(tmp_path_factory.mktemp("fuzz")))


def test_seeds_reach_every_case_and_pass(harness):
    seeds = harness.seeds()
    assert sorted(seed[0] % 3 for seed in seeds) == [0, 1, 2]
    for seed in seeds:
        harness.run(seed)


@pytest.mark.parametrize("data", sorted(FOUND))
def test_inputs_the_fuzzer_found_are_clean_errors_now(harness, data):
    harness.run(base64.b64decode(data))
