// Helpers shared by the CPU kernels: argument checks with clear errors (std::invalid_argument
// becomes ValueError in Python), row-parallel loops with a thread cap, uint8 rounding.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace talkinghead {

namespace py = pybind11;

constexpr std::ptrdiff_t kParallelMinPixels = 32 * 1024;  // below this a thread costs more than it saves

inline std::string shape_str(const py::array &a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

// Throws std::invalid_argument (ValueError in Python) naming what was passed and what is expected.
inline void check_array(const py::array &a, const std::string &name, const py::dtype &dtype, const char *dtype_name,
                        bool shape_ok, const char *expected_shape) {
    if (!a.dtype().equal(dtype))
        throw std::invalid_argument(name + " must be " + dtype_name + "; got " + py::str(a.dtype()).cast<std::string>());
    if (!shape_ok)
        throw std::invalid_argument(name + " must have shape " + expected_shape + "; got shape " + shape_str(a));
    if (!(a.flags() & py::array::c_style))
        throw std::invalid_argument(name + " must be C-contiguous; pass numpy.ascontiguousarray(" + name + ")");
}

inline void check_threads(int num_threads) {
    if (num_threads < 0)
        throw std::invalid_argument("num_threads must be 0 (all hardware threads) or positive; got " +
                                    std::to_string(num_threads));
}

// Runs body(row_begin, row_end) over [0, rows) on up to num_threads threads.
template <typename Body>
void parallel_rows(std::ptrdiff_t rows, std::ptrdiff_t pixels, int num_threads, const Body &body) {
    const std::ptrdiff_t cap = num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency());
    const std::ptrdiff_t n = pixels > kParallelMinPixels ? std::min(cap, rows) : 1;
    if (n <= 1) return body(std::ptrdiff_t{0}, rows);
    std::vector<std::thread> workers;
    for (std::ptrdiff_t t = 1; t < n; ++t) workers.emplace_back(body, rows * t / n, rows * (t + 1) / n);
    body(std::ptrdiff_t{0}, rows / n);
    for (auto &worker : workers) worker.join();
}

// uint8 -> float by table: a load instead of an int-to-float conversion, whose false dependency
// on its destination register serialises the gather (measured: 2× slower per pixel). constexpr,
// so the table is built at compile time and read without an initialisation guard.
struct LevelTable {
    float v[256];
    constexpr float operator[](std::uint8_t i) const { return v[i]; }
};
constexpr LevelTable make_level_table() {
    LevelTable t{};
    for (int i = 0; i < 256; ++i) t.v[i] = static_cast<float>(i);
    return t;
}
inline constexpr LevelTable kLevel = make_level_table();

// Round half up and clip; NaN goes to 0 (the argument order of max/min makes it so, no UB).
inline std::uint8_t to_u8(float v) {
    return static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, v + 0.5f)));
}

}  // namespace talkinghead
