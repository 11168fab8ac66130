// Feathered paste-back of a rendered crop into the full-resolution photo; reference: kernels/paste.py.
//
// paste_u8(image H×W×3, crop Hc×Wc×3 uint8; coords h×w×2, weight h×w float32 over the box at
// (x0, y0); drift 3 float32) -> a new H×W×3 uint8 frame. One pass writes the output: rows and
// columns outside the box are copied, inside it each pixel is sampled from the crop (bilinear,
// clamp-to-edge), colour-corrected, blended and rounded:
//     out = round_half_up(base + weight · (bilinear(crop) − drift − base)), clipped to 0..255,
// and pixels of weight 0 are copied (bit-exact). No float copy of the photo is made.
// Rows are split between at most num_threads threads (0: all hardware threads); the result
// does not depend on the count. The GIL is released while the kernel runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;
using namespace talkinghead;

namespace {

// One box row: sample, correct, blend, round, store. Returns x·0 summed over coords and
// weights (NaN if any is NaN or infinite) so the caller can report them.
float blend_row(const std::uint8_t *__restrict crop, std::ptrdiff_t hc, std::ptrdiff_t wc,
                const float *__restrict xy, const float *__restrict weight, const float drift[3],
                const std::uint8_t *__restrict base, std::uint8_t *__restrict out, std::ptrdiff_t w) {
    const float xmax = static_cast<float>(wc - 1), ymax = static_cast<float>(hc - 1);
    float check = 0.0f;
    for (std::ptrdiff_t q = 0; q < w; ++q) {
        const float a = weight[q];
        check += a * 0.0f + xy[2 * q] * 0.0f + xy[2 * q + 1] * 0.0f;
        if (a == 0.0f) {  // outside the crop's footprint: the photo, bit-exact
            for (int k = 0; k < 3; ++k) out[3 * q + k] = base[3 * q + k];
            continue;
        }
        const float x = std::min(xmax, std::max(0.0f, xy[2 * q])), y = std::min(ymax, std::max(0.0f, xy[2 * q + 1]));
        const std::ptrdiff_t x0 = static_cast<std::ptrdiff_t>(x), y0 = static_cast<std::ptrdiff_t>(y);
        const float fx = x - static_cast<float>(x0), fy = y - static_cast<float>(y0);
        const std::uint8_t *p00 = crop + (y0 * wc + x0) * 3;
        const std::ptrdiff_t dx = x0 + 1 < wc ? 3 : 0, dy = y0 + 1 < hc ? 3 * wc : 0;
        for (int k = 0; k < 3; ++k) {
            const float top = (1.0f - fx) * p00[k] + fx * p00[dx + k];
            const float bottom = (1.0f - fx) * p00[dy + k] + fx * p00[dy + dx + k];
            const float sample = (1.0f - fy) * top + fy * bottom - drift[k];
            const float b = static_cast<float>(base[3 * q + k]);
            out[3 * q + k] = to_u8(b + a * (sample - b));
        }
    }
    return check;
}

py::array_t<std::uint8_t> paste(const py::array &image, const py::array &crop, const py::array &coords,
                                const py::array &weight, std::ptrdiff_t x0, std::ptrdiff_t y0,
                                const py::array &drift, int num_threads) {
    check_threads(num_threads);
    check_array(image, "image", py::dtype::of<std::uint8_t>(), "uint8", image.ndim() == 3 && image.shape(2) == 3,
                "(H, W, 3)");
    check_array(crop, "crop", py::dtype::of<std::uint8_t>(), "uint8",
                crop.ndim() == 3 && crop.shape(2) == 3 && crop.shape(0) > 0 && crop.shape(1) > 0,
                "(Hc, Wc, 3), not empty");
    check_array(coords, "coords", py::dtype::of<float>(), "float32", coords.ndim() == 3 && coords.shape(2) == 2,
                "(h, w, 2) holding (x, y) crop pixels");
    check_array(weight, "weight", py::dtype::of<float>(), "float32",
                weight.ndim() == 2 && weight.shape(0) == coords.shape(0) && weight.shape(1) == coords.shape(1),
                "(h, w) matching coords");
    check_array(drift, "drift", py::dtype::of<float>(), "float32", drift.ndim() == 1 && drift.shape(0) == 3, "(3,)");
    const std::ptrdiff_t h = image.shape(0), w = image.shape(1), bh = coords.shape(0), bw = coords.shape(1);
    if (x0 < 0 || y0 < 0 || x0 + bw > w || y0 + bh > h)
        throw std::invalid_argument("the box (x0=" + std::to_string(x0) + ", y0=" + std::to_string(y0) + ", " +
                                    std::to_string(bw) + "×" + std::to_string(bh) + ") must lie inside the " +
                                    std::to_string(w) + "×" + std::to_string(h) + " image");
    const float *d = static_cast<const float *>(drift.data());
    const float dr[3] = {d[0], d[1], d[2]};
    if (!std::isfinite(dr[0]) || !std::isfinite(dr[1]) || !std::isfinite(dr[2]))
        throw std::invalid_argument("drift must be finite");

    py::array_t<std::uint8_t> out({h, w, std::ptrdiff_t{3}});
    const std::uint8_t *src = static_cast<const std::uint8_t *>(image.data());
    const std::uint8_t *cr = static_cast<const std::uint8_t *>(crop.data());
    const float *xy = static_cast<const float *>(coords.data()), *wt = static_cast<const float *>(weight.data());
    std::uint8_t *dst = out.mutable_data();
    const std::ptrdiff_t hc = crop.shape(0), wc = crop.shape(1), row = 3 * w;
    std::vector<float> checks(static_cast<std::size_t>(std::max<std::ptrdiff_t>(h, 1)), 0.0f);
    {
        py::gil_scoped_release release;
        auto rows = [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            for (std::ptrdiff_t r = r0; r < r1; ++r) {
                const std::uint8_t *s = src + r * row;
                std::uint8_t *o = dst + r * row;
                if (r < y0 || r >= y0 + bh || bw == 0) {
                    std::memcpy(o, s, static_cast<std::size_t>(row));
                    continue;
                }
                std::memcpy(o, s, static_cast<std::size_t>(3 * x0));
                const std::ptrdiff_t i = (r - y0) * bw;
                checks[static_cast<std::size_t>(r)] =
                    blend_row(cr, hc, wc, xy + 2 * i, wt + i, dr, s + 3 * x0, o + 3 * x0, bw);
                std::memcpy(o + 3 * (x0 + bw), s + 3 * (x0 + bw), static_cast<std::size_t>(3 * (w - x0 - bw)));
            }
        };
        // Box pixels cost far more than copied ones: split by box pixels, at least one thread.
        const std::ptrdiff_t cap =
            num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency());
        const std::ptrdiff_t n = bh * bw > kParallelMinPixels ? std::min(cap, bh) : 1;
        if (n <= 1) {
            rows(0, h);
        } else {
            // Thread t takes box rows [y0 + bh·t/n, y0 + bh·(t+1)/n); the first and last also take
            // the rows above and below the box.
            auto bound = [&](std::ptrdiff_t t) { return t == 0 ? 0 : t == n ? h : y0 + bh * t / n; };
            std::vector<std::thread> workers;
            for (std::ptrdiff_t t = 1; t < n; ++t) workers.emplace_back(rows, bound(t), bound(t + 1));
            rows(bound(0), bound(1));
            for (auto &worker : workers) worker.join();
        }
    }
    for (float check : checks)
        if (!std::isfinite(check))
            throw std::invalid_argument("coords and weight must be finite; got NaN or infinite value(s)");
    return out;
}

}  // namespace

void register_paste(py::module_ &m) {
    m.def("paste_u8", &paste, py::arg("image"), py::arg("crop"), py::arg("coords"), py::arg("weight"), py::arg("x0"),
          py::arg("y0"), py::arg("drift"), py::arg("num_threads") = 0,
          "Feathered paste-back: a new uint8 H×W×3 frame, the image outside the box, inside it "
          "round(base + weight·(bilinear(crop) − drift − base)). crop uint8 Hc×Wc×3; coords float32 h×w×2 "
          "(x, y) crop pixels and weight float32 h×w over the box at (x0, y0); drift float32 (3,). "
          "num_threads: at most this many threads (0: all hardware threads).");
}
