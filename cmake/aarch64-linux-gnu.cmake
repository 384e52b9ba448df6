# Cross build for AArch64 Linux with Debian's cross compiler (g++-aarch64-linux-gnu) and multiarch
# libraries (libfmt-dev:arm64, libgtest-dev:arm64); CTest runs the binaries under qemu-user.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DR1_KERNELS_ONLY=ON -DR1_NATIVE=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# The AArch64 C library lives under /usr/aarch64-linux-gnu; qemu-aarch64 looks there with -L.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
# Static executables: qemu-aarch64 7.2 (Debian 12) hangs in pthread_create in dynamically linked ones.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
