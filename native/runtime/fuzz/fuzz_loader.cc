// libFuzzer target for the runtime's loader (and, for small valid models, one run).
//
// The fuzzer's bytes are a .bmx file whose header size and CRC-32 are re-sealed before loading, so mutations
// reach the graph parser and the operators' checks instead of stopping at the checksum (the checksum check
// itself is covered by tests/runtime/test_malformed.py). Built and run by tools/fuzz_runtime.py with
// -fsanitize=fuzzer,address,undefined.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../src/crc32.h"
#include "bmx_runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(data, data + size);
  if (size >= 32) {
    const uint64_t body = size - 32;
    const uint32_t crc = bmx::rt::crc32(file.data() + 32, body);
    std::memcpy(file.data() + 16, &body, 8);
    std::memcpy(file.data() + 24, &crc, 4);
  }
  bmx_model* model = nullptr;
  if (bmx_model_load_memory(file.data(), file.size(), &model) != BMX_OK) return 0;
  size_t arena = 0, inputs = 0;
  bmx_model_memory(model, &arena, nullptr, nullptr);
  bmx_model_num_inputs(model, &inputs);
  bool small = arena <= (size_t{64} << 20);
  for (size_t i = 0; i < inputs && small; ++i) {
    bmx_tensor_info info;
    bmx_model_input_info(model, i, &info);
    small = info.nbytes <= (size_t{16} << 20);
    if (small) {
      std::vector<uint8_t> zeros(info.nbytes, 0);
      bmx_model_set_input(model, i, zeros.data(), zeros.size());
    }
  }
  if (small) bmx_model_run(model);
  bmx_model_free(model);
  return 0;
}
