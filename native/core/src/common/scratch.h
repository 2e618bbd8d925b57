// Per-thread scratch memory reused across kernel calls (no allocation per call once warmed up).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace bmx {
namespace detail {

/// A grow-only, 64-byte aligned buffer owned by one thread; a new reserve() invalidates pointers from the
/// previous one. Each thread has two: call() for the buffers a kernel call shares among its tasks, task()
/// for the private buffers of the tasks the thread runs inside a parallel_for.
class Scratch {
 public:
  static Scratch& call() {
    thread_local Scratch scratch;
    return scratch;
  }
  static Scratch& task() {
    thread_local Scratch scratch;
    return scratch;
  }

  void* reserve(std::size_t bytes) {
    if (bytes > capacity_) {
      std::size_t grown = bytes + bytes / 2 + 4096;
      void* p = std::aligned_alloc(64, (grown + 63) / 64 * 64);
      if (p == nullptr) throw std::bad_alloc();
      buffer_.reset(static_cast<char*>(p));
      capacity_ = grown;
    }
    return buffer_.get();
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> buffer_;
  std::size_t capacity_ = 0;
};

/// Lays out several 64-byte aligned arrays in one scratch reservation: add() each array's size (keeping the
/// returned offset), allocate() once, then at(offset) gives each array.
class ScratchLayout {
 public:
  template <typename T>
  std::size_t add(std::size_t count) {
    std::size_t offset = size_;
    size_ += (count * sizeof(T) + 63) / 64 * 64;
    return offset;
  }
  void allocate(Scratch& scratch) { base_ = static_cast<char*>(scratch.reserve(size_)); }
  template <typename T>
  T* at(std::size_t offset) const { return reinterpret_cast<T*>(base_ + offset); }

 private:
  std::size_t size_ = 0;
  char* base_ = nullptr;
};

}  // namespace detail
}  // namespace bmx
