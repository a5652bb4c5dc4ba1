# Run by llama.cpp's own project() call (install-local.sh passes
# -DCMAKE_PROJECT_llama.cpp_INCLUDE=<this file>), so it applies to llama.cpp's tree only.
#
# llama-cpp-python forces LLAMA_BUILD_COMMON=ON into the cache, yet its Python package loads only
# libllama and libggml*: the "common" library (chat parsers, argument parsing, cpp-httplib) is
# 53 compile units that nothing routerls runs ever loads. A normal variable shadows the cache
# entry (policy CMP0077), so llama.cpp skips common/ and the cpp-httplib vendor library.
set(LLAMA_BUILD_COMMON OFF)
