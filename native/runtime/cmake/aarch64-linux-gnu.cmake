# Cross-compile for 64-bit ARM Linux with Debian's cross toolchain (apt-get install g++-aarch64-linux-gnu).
# Run the result on x86 with qemu-user: qemu-aarch64 -L /usr/aarch64-linux-gnu ./bmx-run ... (or link it with
# -DBMX_STATIC_CLI=ON and run it directly).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
