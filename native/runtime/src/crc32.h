// CRC-32 (IEEE 802.3 polynomial, reflected, as zlib's crc32) used to verify a model file's body.
#ifndef BMX_RUNTIME_CRC32_H_
#define BMX_RUNTIME_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace bmx {
namespace rt {

uint32_t crc32(const uint8_t* data, size_t size);

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_CRC32_H_
