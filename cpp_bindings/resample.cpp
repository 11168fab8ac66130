// Bilinear remap with clamp-to-edge borders; reference: kernels/resample.py.
//
// image H×W×C (C-contiguous), coords Ho×Wo×2 float32 holding (x, y) source pixel coordinates
// with pixel centres at integers (as cv2.remap). Output Ho×Wo×C in the image dtype.
// num_threads caps the worker threads (0: one per hardware thread); rows are split between
// them, so the result does not depend on the count.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

constexpr std::ptrdiff_t kParallelMinPixels = 64 * 1024;

std::string shape_str(const py::array &a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string dtype_str(const py::array &a) { return py::str(a.dtype()).cast<std::string>(); }

// Throws std::invalid_argument (ValueError in Python) naming what was passed and what is expected.
void check_array(const py::array &a, const std::string &name, const py::dtype &dtype, const char *dtype_name,
                 bool shape_ok, const char *expected_shape) {
    if (!a.dtype().equal(dtype))
        throw std::invalid_argument(name + " must be " + dtype_name + "; got " + dtype_str(a));
    if (!shape_ok)
        throw std::invalid_argument(name + " must have shape " + expected_shape + "; got shape " + shape_str(a));
    if (!(a.flags() & py::array::c_style))
        throw std::invalid_argument(name + " must be C-contiguous; pass numpy.ascontiguousarray(" + name + ")");
}

// One output value from its four taps; the same operation order as the reference.
inline float lerp2(float v00, float v01, float v10, float v11, float fx, float fy) {
    const float top = (1.0f - fx) * v00 + fx * v01;
    const float bottom = (1.0f - fx) * v10 + fx * v11;
    return (1.0f - fy) * top + fy * bottom;
}

inline float to_float(float v) { return v; }
inline float to_float(std::uint8_t v) { return talkinghead::kLevel[v]; }
inline void store(float v, float *dst) { *dst = v; }
inline void store(float v, std::uint8_t *dst) {  // round half up, clip
    // After clamping to [0, 255] truncation equals floor, and avoids a libm call per value.
    *dst = static_cast<std::uint8_t>(std::min(std::max(v + 0.5f, 0.0f), 255.0f));
}

template <typename T>
void remap_rows(const T *img, std::ptrdiff_t h, std::ptrdiff_t w, std::ptrdiff_t c, const float *coords,
                T *out, std::ptrdiff_t wo, std::ptrdiff_t row_begin, std::ptrdiff_t row_end) {
    const float xmax = static_cast<float>(w - 1), ymax = static_cast<float>(h - 1);
    for (std::ptrdiff_t r = row_begin; r < row_end; ++r) {
        for (std::ptrdiff_t q = 0; q < wo; ++q) {
            const std::ptrdiff_t p = r * wo + q;
            const float x = std::min(std::max(coords[2 * p], 0.0f), xmax);
            const float y = std::min(std::max(coords[2 * p + 1], 0.0f), ymax);
            const std::ptrdiff_t x0 = static_cast<std::ptrdiff_t>(x);  // x >= 0: truncation == floor
            const std::ptrdiff_t y0 = static_cast<std::ptrdiff_t>(y);
            const std::ptrdiff_t x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
            const float fx = x - static_cast<float>(x0), fy = y - static_cast<float>(y0);
            const T *p00 = img + (y0 * w + x0) * c, *p01 = img + (y0 * w + x1) * c;
            const T *p10 = img + (y1 * w + x0) * c, *p11 = img + (y1 * w + x1) * c;
            T *dst = out + p * c;
            for (std::ptrdiff_t k = 0; k < c; ++k)
                store(lerp2(to_float(p00[k]), to_float(p01[k]), to_float(p10[k]), to_float(p11[k]), fx, fy),
                      dst + k);
        }
    }
}

template <typename T>
py::array_t<T> remap_bilinear(const py::array &image, const py::array &coords, int num_threads,
                              const char *dtype_name) {
    if (num_threads < 0)
        throw std::invalid_argument("num_threads must be 0 (all hardware threads) or positive; got " +
                                    std::to_string(num_threads));
    check_array(image, "image", py::dtype::of<T>(), dtype_name, image.ndim() == 3, "(H, W, C)");
    check_array(coords, "coords", py::dtype::of<float>(), "float32", coords.ndim() == 3 && coords.shape(2) == 2,
                "(Ho, Wo, 2) holding (x, y)");
    const std::ptrdiff_t h = image.shape(0), w = image.shape(1), c = image.shape(2);
    const std::ptrdiff_t ho = coords.shape(0), wo = coords.shape(1);
    if (h == 0 || w == 0 || c == 0)
        throw std::invalid_argument("image must not be empty; got shape " + shape_str(image));

    py::array_t<T> out({ho, wo, c});
    const T *img = static_cast<const T *>(image.data());
    const float *xy = static_cast<const float *>(coords.data());
    T *dst = out.mutable_data();
    bool finite = true;
    {
        py::gil_scoped_release release;
        for (std::ptrdiff_t i = 0; i < 2 * ho * wo && finite; ++i) finite = std::isfinite(xy[i]);
        if (finite) {
            const std::ptrdiff_t cap =
                num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency());
            const std::ptrdiff_t n = ho * wo > kParallelMinPixels ? std::min(cap, ho) : 1;
            if (n == 1) {
                remap_rows(img, h, w, c, xy, dst, wo, 0, ho);
            } else {
                std::vector<std::thread> workers;
                for (std::ptrdiff_t t = 0; t < n; ++t)
                    workers.emplace_back(remap_rows<T>, img, h, w, c, xy, dst, wo, ho * t / n, ho * (t + 1) / n);
                for (auto &worker : workers) worker.join();
            }
        }
    }
    if (!finite) throw std::invalid_argument("coords must be finite; got NaN or infinite value(s)");
    return out;
}

}  // namespace

void register_resample(py::module_ &m) {
    m.def(
        "remap_bilinear_f32",
        [](const py::array &image, const py::array &coords, int num_threads) {
            return remap_bilinear<float>(image, coords, num_threads, "float32");
        },
        py::arg("image"), py::arg("coords"), py::arg("num_threads") = 0,
        "Bilinear remap, clamp-to-edge. image float32 H×W×C, coords float32 Ho×Wo×2 (x, y) -> float32 Ho×Wo×C. "
        "num_threads: at most this many threads (0: all hardware threads).");
    m.def(
        "remap_bilinear_u8",
        [](const py::array &image, const py::array &coords, int num_threads) {
            return remap_bilinear<std::uint8_t>(image, coords, num_threads, "uint8");
        },
        py::arg("image"), py::arg("coords"), py::arg("num_threads") = 0,
        "Bilinear remap, clamp-to-edge, rounded half up. image uint8 H×W×C, coords float32 Ho×Wo×2 -> uint8 Ho×Wo×C. "
        "num_threads: at most this many threads (0: all hardware threads).");
}
