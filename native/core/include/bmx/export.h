// Symbol visibility of the core's public API.
//
// The core is one shared library per process (bmxnet_ext/libbmxcore.so, built by setup.py) that every front
// end links, so its switches (instruction set, thread count) and its scratch memory exist once. It is compiled
// with -fvisibility=hidden; BMX_API marks what this include directory declares as the exported interface.
// Exported classes include bmx::Error, so that a front end can catch it by type across library boundaries.
// Static builds (the runtime's CMake build) see the same attribute, which is harmless there.
#pragma once

#if defined(_WIN32)
#define BMX_API
#else
#define BMX_API __attribute__((visibility("default")))
#endif
