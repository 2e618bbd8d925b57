// Per-thread scratch memory reused across kernel calls (no allocation per call once warmed up).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace bmx {
namespace detail {

/// A grow-only, 64-byte aligned buffer owned by the calling thread. Carve several arrays out of one
/// reservation with ScratchCarver; a new reserve() invalidates pointers from the previous one.
class Scratch {
 public:
  static Scratch& of_this_thread() {
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

/// Lays out several 64-byte aligned arrays in one scratch reservation: first add() sizes, then
/// allocate() once, then take() pointers in the same order.
class ScratchLayout {
 public:
  template <typename T>
  std::size_t add(std::size_t count) {
    std::size_t offset = size_;
    size_ += (count * sizeof(T) + 63) / 64 * 64;
    return offset;
  }
  void allocate() { base_ = static_cast<char*>(Scratch::of_this_thread().reserve(size_)); }
  template <typename T>
  T* at(std::size_t offset) const { return reinterpret_cast<T*>(base_ + offset); }

 private:
  std::size_t size_ = 0;
  char* base_ = nullptr;
};

}  // namespace detail
}  // namespace bmx
