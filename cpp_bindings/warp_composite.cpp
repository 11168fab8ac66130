// Fused warp + composites of the renderer; reference: kernels/warp_composite.py.
//
// warp_composite_u8: one pass over the output crop: bilinear remap of the source crop
// (clamp-to-edge, pixel centres at integers) and, inside a box, the alpha blend of an overlay
// (the mouth fill), rounded once to uint8. The overlay's colour and alpha are computed by the
// caller (polygon rasterisation and blur are not per-pixel arithmetic).
// add_residual_u8: crop + 255 · bilinear-resize(gate · residual) -> uint8, the refinement's
// gated residual read in the net's planar 3×N×N layout and resized (half-pixel centres, as
// cv2.resize INTER_LINEAR) in the same pass.
// Rows are split between at most num_threads threads (0: all hardware threads); the result
// does not depend on the count. The GIL is released while the kernels run.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.h"
#include <pybind11/stl.h>  // std::optional <-> None

#include <algorithm>
#include <cmath>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;
using namespace talkinghead;

namespace {

inline bool finite_bits(float v) {  // exponent not all ones; integer test, so the loop vectorizes
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return (bits & 0x7f800000u) != 0x7f800000u;
}

// Per output pixel of a row: the source offset of the top-left tap (3-channel uint8, int32: the
// source is checked to fit), steps to the right and lower taps (0 at the clamped edge) and the
// fractions. Split from the gather so that this part vectorizes. NaN coordinates map to pixel 0
// (max/min argument order); the return value tells the caller whether all were finite.
bool row_taps(const float *__restrict xy, std::ptrdiff_t n, std::int32_t h, std::int32_t w,
              std::int32_t *__restrict offset, std::int32_t *__restrict dx, std::int32_t *__restrict dy,
              float *__restrict fx, float *__restrict fy) {
    const float xmax = static_cast<float>(w - 1), ymax = static_cast<float>(h - 1);
    bool finite = true;
    for (std::ptrdiff_t q = 0; q < n; ++q) {
        finite &= finite_bits(xy[2 * q]) & finite_bits(xy[2 * q + 1]);
        const float x = std::min(xmax, std::max(0.0f, xy[2 * q])), y = std::min(ymax, std::max(0.0f, xy[2 * q + 1]));
        const std::int32_t x0 = static_cast<std::int32_t>(x), y0 = static_cast<std::int32_t>(y);
        fx[q] = x - static_cast<float>(x0);
        fy[q] = y - static_cast<float>(y0);
        offset[q] = (y0 * w + x0) * 3;
        dx[q] = x0 + 1 < w ? 3 : 0;
        dy[q] = y0 + 1 < h ? 3 * w : 0;
    }
    return finite;
}

struct Overlay {  // an h×w box at (x0, y0) of the output: out = v + alpha · (colour − v)
    const float *colour, *alpha;  // h×w×3, h×w
    std::ptrdiff_t x0, y0, h, w;
};

py::array_t<std::uint8_t> warp_composite(const py::array &source, const py::array &coords,
                                         const std::optional<py::array> &colour,
                                         const std::optional<py::array> &alpha, std::ptrdiff_t x0,
                                         std::ptrdiff_t y0, int num_threads) {
    check_threads(num_threads);
    check_array(source, "source", py::dtype::of<std::uint8_t>(), "uint8",
                source.ndim() == 3 && source.shape(2) == 3, "(H, W, 3)");
    check_array(coords, "coords", py::dtype::of<float>(), "float32", coords.ndim() == 3 && coords.shape(2) == 2,
                "(Ho, Wo, 2) holding (x, y)");
    const std::ptrdiff_t h = source.shape(0), w = source.shape(1), ho = coords.shape(0), wo = coords.shape(1);
    if (h == 0 || w == 0) throw std::invalid_argument("source must not be empty; got shape " + shape_str(source));
    if (h * w * 3 > INT32_MAX) throw std::invalid_argument("source is too large; got shape " + shape_str(source));
    if (colour.has_value() != alpha.has_value())
        throw std::invalid_argument("overlay colour and alpha must be given together (or neither)");
    Overlay ov{nullptr, nullptr, 0, 0, 0, 0};
    if (colour) {
        check_array(*colour, "overlay colour", py::dtype::of<float>(), "float32",
                    colour->ndim() == 3 && colour->shape(2) == 3, "(h, w, 3)");
        check_array(*alpha, "overlay alpha", py::dtype::of<float>(), "float32",
                    alpha->ndim() == 2 && alpha->shape(0) == colour->shape(0) && alpha->shape(1) == colour->shape(1),
                    "(h, w) matching the overlay colour");
        ov = {static_cast<const float *>(colour->data()), static_cast<const float *>(alpha->data()), x0, y0,
              colour->shape(0), colour->shape(1)};
        if (x0 < 0 || y0 < 0 || x0 + ov.w > wo || y0 + ov.h > ho)
            throw std::invalid_argument("the overlay box (x0=" + std::to_string(x0) + ", y0=" + std::to_string(y0) +
                                        ", " + std::to_string(ov.w) + "×" + std::to_string(ov.h) +
                                        ") must lie inside the " + std::to_string(wo) + "×" + std::to_string(ho) +
                                        " output");
    }

    py::array_t<std::uint8_t> out({ho, wo, std::ptrdiff_t{3}});
    const std::uint8_t *img = static_cast<const std::uint8_t *>(source.data());
    const float *xy = static_cast<const float *>(coords.data());
    std::uint8_t *dst = out.mutable_data();
    bool finite = true;
    {
        py::gil_scoped_release release;
        std::vector<char> row_finite(static_cast<std::size_t>(ho), 1);
        parallel_rows(ho, ho * wo, num_threads, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            std::vector<std::int32_t> offset(static_cast<std::size_t>(wo)), dx(offset.size()), dy(offset.size());
            std::vector<float> fx(offset.size()), fy(offset.size());
            for (std::ptrdiff_t r = r0; r < r1; ++r) {
                row_finite[r] = row_taps(xy + r * wo * 2, wo, static_cast<std::int32_t>(h),
                                         static_cast<std::int32_t>(w), offset.data(), dx.data(), dy.data(),
                                         fx.data(), fy.data());
                std::uint8_t *o = dst + r * wo * 3;
                const bool in_rows = ov.colour && r >= ov.y0 && r < ov.y0 + ov.h;
                const std::ptrdiff_t b0 = in_rows ? ov.x0 : wo, b1 = in_rows ? ov.x0 + ov.w : wo;
                for (std::ptrdiff_t q = 0; q < wo; ++q) {
                    const std::uint8_t *p = img + offset[q];
                    const std::ptrdiff_t sx = dx[q], sy = dy[q];
                    const float ax = fx[q], ay = fy[q];
                    float v[3];
                    for (int k = 0; k < 3; ++k) {  // the operation order of kernels/resample.py
                        const float top = (1.0f - ax) * kLevel[p[k]] + ax * kLevel[p[sx + k]];
                        const float bottom = (1.0f - ax) * kLevel[p[sy + k]] + ax * kLevel[p[sy + sx + k]];
                        v[k] = (1.0f - ay) * top + ay * bottom;
                    }
                    if (q >= b0 && q < b1) {  // inside the overlay box
                        const std::ptrdiff_t i = (r - ov.y0) * ov.w + (q - ov.x0);
                        const float a = ov.alpha[i];
                        for (int k = 0; k < 3; ++k) v[k] = v[k] + a * (ov.colour[3 * i + k] - v[k]);
                    }
                    for (int k = 0; k < 3; ++k) o[3 * q + k] = to_u8(v[k]);
                }
            }
        });
        for (char f : row_finite) finite = finite && f;
    }
    if (!finite) throw std::invalid_argument("coords must be finite; got NaN or infinite value(s)");
    return out;
}

py::array_t<std::uint8_t> add_residual(const py::array &crop, const py::array &residual,
                                       const std::optional<py::array> &gate, float scale, int num_threads) {
    check_threads(num_threads);
    check_array(crop, "crop", py::dtype::of<std::uint8_t>(), "uint8",
                crop.ndim() == 3 && crop.shape(2) == 3 && crop.shape(0) > 0 && crop.shape(1) > 0, "(H, W, 3), not empty");
    check_array(residual, "residual", py::dtype::of<float>(), "float32",
                residual.ndim() == 3 && residual.shape(0) == 3 && residual.shape(1) > 0 && residual.shape(2) > 0,
                "(3, N, M), not empty");
    const std::ptrdiff_t h = crop.shape(0), w = crop.shape(1), n = residual.shape(1), m = residual.shape(2);
    if (gate)
        check_array(*gate, "gate", py::dtype::of<float>(), "float32",
                    gate->ndim() == 2 && gate->shape(0) == n && gate->shape(1) == m, "(N, M) matching the residual");
    const float *res = static_cast<const float *>(residual.data());
    const float *g = gate ? static_cast<const float *>(gate->data()) : nullptr;
    const std::uint8_t *src = static_cast<const std::uint8_t *>(crop.data());
    py::array_t<std::uint8_t> out({h, w, std::ptrdiff_t{3}});
    std::uint8_t *dst = out.mutable_data();
    const std::ptrdiff_t plane = n * m;
    // Source coordinate of output pixel d along an axis: (d + 0.5) · N / H − 0.5 (half-pixel centres).
    const float sy = static_cast<float>(n) / static_cast<float>(h), sx = static_cast<float>(m) / static_cast<float>(w);
    const bool same = n == h && m == w;
    // Separable resize: per output row the two residual rows are blended vertically once
    // (row buffer, gate applied per tap), then each output pixel blends two buffer entries.
    std::vector<std::ptrdiff_t> xs0(static_cast<std::size_t>(w)), xs1(xs0.size());
    std::vector<float> fxs(xs0.size());
    for (std::ptrdiff_t q = 0; q < w; ++q) {
        const float x = same ? static_cast<float>(q)
                             : std::min(static_cast<float>(m - 1), std::max(0.0f, (q + 0.5f) * sx - 0.5f));
        xs0[q] = static_cast<std::ptrdiff_t>(x);
        xs1[q] = std::min(xs0[q] + 1, m - 1);
        fxs[q] = x - static_cast<float>(xs0[q]);
    }
    {
        py::gil_scoped_release release;
        parallel_rows(h, h * w, num_threads, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            std::vector<float> buffer(static_cast<std::size_t>(3 * m));  // 3×M gated residual at this row
            for (std::ptrdiff_t r = r0; r < r1; ++r) {
                const float y = same ? static_cast<float>(r)
                                     : std::min(static_cast<float>(n - 1), std::max(0.0f, (r + 0.5f) * sy - 0.5f));
                const std::ptrdiff_t y0 = static_cast<std::ptrdiff_t>(y), y1 = std::min(y0 + 1, n - 1);
                const float fy = y - static_cast<float>(y0);
                for (int k = 0; k < 3; ++k) {
                    const float *top = res + k * plane + y0 * m, *bottom = res + k * plane + y1 * m;
                    float *b = buffer.data() + k * m;
                    if (same) {
                        for (std::ptrdiff_t j = 0; j < m; ++j) b[j] = g ? top[j] * g[y0 * m + j] : top[j];
                    } else {
                        for (std::ptrdiff_t j = 0; j < m; ++j) {
                            const float t = g ? top[j] * g[y0 * m + j] : top[j];
                            const float u = g ? bottom[j] * g[y1 * m + j] : bottom[j];
                            b[j] = (1.0f - fy) * t + fy * u;
                        }
                    }
                }
                const std::uint8_t *s = src + r * w * 3;
                std::uint8_t *o = dst + r * w * 3;
                for (std::ptrdiff_t q = 0; q < w; ++q) {
                    const float fx = fxs[q];
                    for (int k = 0; k < 3; ++k) {
                        const float *b = buffer.data() + k * m;
                        const float v = same ? b[q] : (1.0f - fx) * b[xs0[q]] + fx * b[xs1[q]];
                        o[3 * q + k] = to_u8(static_cast<float>(s[3 * q + k]) + v * scale);
                    }
                }
            }
        });
    }
    return out;
}

}  // namespace

void register_warp_composite(py::module_ &m) {
    m.def("warp_composite_u8", &warp_composite, py::arg("source"), py::arg("coords"), py::arg("colour") = py::none(),
          py::arg("alpha") = py::none(), py::arg("x0") = 0, py::arg("y0") = 0, py::arg("num_threads") = 0,
          "Bilinear remap (clamp-to-edge) of a uint8 H×W×3 source at float32 Ho×Wo×2 (x, y) coords, blended "
          "inside the box at (x0, y0) with a float32 h×w×3 colour by a float32 h×w alpha, rounded half up "
          "-> uint8 Ho×Wo×3. num_threads: at most this many threads (0: all hardware threads).");
    m.def("add_residual_u8", &add_residual, py::arg("crop"), py::arg("residual"), py::arg("gate") = py::none(),
          py::arg("scale") = 255.0f, py::arg("num_threads") = 0,
          "uint8 H×W×3 crop + scale · bilinear-resize(gate · residual) rounded half up -> uint8 H×W×3; residual "
          "float32 3×N×M, gate float32 N×M or None. num_threads: at most this many threads (0: all).");
}
