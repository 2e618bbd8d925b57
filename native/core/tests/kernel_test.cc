// Stand-alone test of the native core's kernels against reference.h, for every instruction set this CPU
// and build support (portable and NEON under qemu-aarch64; portable, AVX2, AVX-512 on x86-64).
// Build: g++ -std=c++17 -O2 -Inative/core/include native/core/src/**/*.cc native/core/tests/kernel_test.cc
// Prints one line per failure and "ALL PASSED <checks>" at the end; exit status 1 on any failure.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../src/reference/reference.h"
#include "bmx/bmx.h"

namespace {

int g_failures = 0, g_checks = 0;

struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  }
  int below(int n) { return static_cast<int>(next() % n); }
  float normal() { return (static_cast<float>(below(2001)) - 1000.0f) / 500.0f; }
};

template <typename T>
void expect_equal(const std::vector<T>& got, const std::vector<T>& want, const char* what, const char* isa,
                  const char* shape) {
  ++g_checks;
  if (got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0) return;
  ++g_failures;
  std::printf("FAIL %s on %s for %s\n", what, isa, shape);
}

void check_conv(const bmx::Conv2DParams& p, Rng& rng, const char* isa) {
  char shape[200];
  std::snprintf(shape, sizeof(shape), "n%lld c%lld h%lld w%lld o%lld k%lldx%lld s%lld p%lld d%lld g%lld",
                (long long)p.batch, (long long)p.in_channels, (long long)p.in_height, (long long)p.in_width,
                (long long)p.out_channels, (long long)p.kernel_h, (long long)p.kernel_w, (long long)p.stride_h,
                (long long)p.pad_h, (long long)p.dilation_h, (long long)p.groups);
  std::vector<float> x(p.batch * p.in_channels * p.in_height * p.in_width);
  std::vector<float> w(p.out_channels * p.channels_per_group() * p.kernel_h * p.kernel_w);
  for (auto& v : x) v = rng.normal();
  for (auto& v : w) v = rng.normal();
  std::vector<bmx::word_t> xp(p.input_words()), wp(p.weight_words());
  bmx::pack_activations_nchw(x.data(), p.batch, p.in_channels, p.in_height, p.in_width, p.groups, nullptr, nullptr,
                             xp.data());
  bmx::pack_conv_weights(w.data(), p.out_channels, p.channels_per_group(), p.kernel_h, p.kernel_w, wp.data());
  expect_equal(xp, bmx::reference::pack_nchw(x, p.batch, p.in_channels, p.in_height, p.in_width, p.groups),
               "pack_activations_nchw", isa, shape);
  expect_equal(wp, bmx::reference::pack_nchw(w, p.out_channels, p.channels_per_group(), p.kernel_h, p.kernel_w, 1),
               "pack_conv_weights", isa, shape);
  const std::vector<std::int32_t> want = bmx::reference::conv2d(p, x, w);
  std::vector<std::int32_t> got(p.output_size());
  bmx::binary_conv2d_int32(p, xp.data(), wp.data(), got.data());
  expect_equal(got, want, "binary_conv2d_int32", isa, shape);

  // float and packed forms: scale / bias put some boundaries exactly on integers and half-integers
  std::vector<float> scale(p.out_channels), bias(p.out_channels);
  for (std::int64_t o = 0; o < p.out_channels; ++o) {
    scale[o] = o % 4 == 0 ? 0.0f : (o % 4 == 1 ? -0.5f : 1.0f + 0.25f * (o % 3));
    bias[o] = static_cast<float>(rng.below(11) - 5) + 0.5f * (o % 2);
  }
  std::vector<float> want_f(want.size()), got_f(want.size());
  const std::int64_t plane = p.out_height() * p.out_width(), ow = bmx::words_for(p.out_channels);
  std::vector<bmx::word_t> want_b(p.output_words(), 0), got_b(p.output_words());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::int64_t o = i / plane % p.out_channels, n = i / plane / p.out_channels, px = i % plane;
    volatile float product = scale[o] * static_cast<float>(want[i]);
    want_f[i] = product + bias[o];
    if (want_f[i] < 0.0f) want_b[(n * plane + px) * ow + o / 64] |= bmx::word_t(1) << (o % 64);
  }
  bmx::binary_conv2d_float(p, xp.data(), wp.data(), scale.data(), bias.data(), got_f.data());
  expect_equal(got_f, want_f, "binary_conv2d_float", isa, shape);
  bmx::binary_conv2d_packed(p, xp.data(), wp.data(), scale.data(), bias.data(), got_b.data());
  expect_equal(got_b, want_b, "binary_conv2d_packed", isa, shape);
}

void check_dense(std::int64_t n, std::int64_t k, std::int64_t o, Rng& rng, const char* isa) {
  char shape[100];
  std::snprintf(shape, sizeof(shape), "dense n%lld k%lld o%lld", (long long)n, (long long)k, (long long)o);
  bmx::DenseParams p;
  p.batch = n;
  p.in_units = k;
  p.out_units = o;
  std::vector<float> x(n * k), w(o * k);
  for (auto& v : x) v = rng.normal();
  for (auto& v : w) v = rng.normal();
  std::vector<bmx::word_t> xp(p.input_words()), wp(p.weight_words());
  bmx::pack_rows(x.data(), n, k, nullptr, nullptr, xp.data());
  bmx::pack_dense_weights(w.data(), o, k, wp.data());
  expect_equal(xp, bmx::reference::pack_nchw(x, n, k, 1, 1, 1), "pack_rows", isa, shape);  // (N, K, 1, 1) layout
  std::vector<std::int32_t> got(n * o), gemm(n * o);
  bmx::binary_dense_int32(p, xp.data(), wp.data(), got.data());
  expect_equal(got, bmx::reference::dense(p, x, w), "binary_dense_int32", isa, shape);
  bmx::binary_gemm(n, o, k, xp.data(), wp.data(), gemm.data());
  expect_equal(gemm, got, "binary_gemm", isa, shape);
}

}  // namespace

// bmx::parallel_for: every task runs exactly once on a thread index in range, for several thread counts
// and task counts (shares of 0, 1 and many tasks), and the first exception of a task reaches the caller.
void check_parallel_for() {
  for (int threads : {1, 2, 3, 5}) {
    bmx::set_num_threads(threads);
    for (int tasks : {0, 1, 2, 3, 4, 7, 40, 1000}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::vector<std::atomic<int>> runs(static_cast<std::size_t>(tasks));
        std::atomic<int> bad_thread{0};
        bmx::parallel_for(tasks, [&](std::int64_t task, int thread) {
          runs[static_cast<std::size_t>(task)].fetch_add(1);
          if (thread < 0 || thread >= threads) bad_thread.fetch_add(1);
        });
        bool once = bad_thread.load() == 0;
        for (auto& r : runs) once = once && r.load() == 1;
        ++g_checks;
        if (!once) {
          ++g_failures;
          std::printf("FAIL parallel_for with %d threads, %d tasks\n", threads, tasks);
        }
      }
    }
    bool thrown = false;
    try {
      bmx::parallel_for(100, [](std::int64_t task, int) {
        if (task == 57) throw bmx::Error("task 57");
      });
    } catch (const bmx::Error& e) {
      thrown = std::strcmp(e.what(), "task 57") == 0;
    }
    ++g_checks;
    if (!thrown) {
      ++g_failures;
      std::printf("FAIL parallel_for did not rethrow a task's exception with %d threads\n", threads);
    }
  }
}

int main() {
  check_parallel_for();
  Rng rng{20181126};
  const int channels[] = {1, 3, 37, 64, 65, 130};
  for (bmx::Isa isa : bmx::available_isas()) {
    bmx::force_isa(isa);
    const char* name = bmx::isa_name(isa);
    for (int threads : {1, 2}) {
      bmx::set_num_threads(threads);
      for (int trial = 0; trial < 24; ++trial) {
        bmx::Conv2DParams p;
        p.groups = 1 << rng.below(3);
        p.in_channels = p.groups * channels[rng.below(6)];
        p.out_channels = p.groups * (1 + rng.below(9));
        p.batch = rng.below(2) ? 1 : 3;
        p.kernel_h = p.kernel_w = 1 + 2 * rng.below(4);
        p.stride_h = p.stride_w = 1 + rng.below(2);
        p.pad_h = p.pad_w = rng.below(4);
        p.dilation_h = p.dilation_w = 1 + rng.below(2);
        p.in_height = 1 + rng.below(8);
        p.in_width = 1 + rng.below(9);
        const std::int64_t span = p.dilation_h * (p.kernel_h - 1) + 1;
        if (p.in_height + 2 * p.pad_h < span || p.in_width + 2 * p.pad_w < span) continue;
        check_conv(p, rng, name);
      }
      bmx::Conv2DParams resnet;
      resnet.in_channels = resnet.out_channels = 64;
      resnet.in_height = resnet.in_width = 9;
      resnet.kernel_h = resnet.kernel_w = 3;
      resnet.pad_h = resnet.pad_w = 1;
      check_conv(resnet, rng, name);
      check_dense(1, 1, 1, rng, name);
      check_dense(3, 65, 70, rng, name);
      check_dense(9, 700, 130, rng, name);
    }
  }
  bmx::reset_isa();
  if (g_failures) {
    std::printf("%d of %d checks FAILED\n", g_failures, g_checks);
    return 1;
  }
  std::printf("ALL PASSED %d\n", g_checks);
  return 0;
}
