// Thin-plate forward field from an int16 spline matrix; reference: kernels/tps_forward.py.
//
// out[n] = scale[n] · (Σ_k disp[k, 0] · Q[k, n], Σ_k disp[k, 1] · Q[k, n]) for disp K×2 float32,
// Q K×N int16 and scale N float32 (one per column). The matrix is read once, row by row, into
// float32 accumulators over a range of columns per thread, so a frame's cost is reading its
// 2·K·N bytes. Columns are split between at most num_threads threads (0: all hardware threads);
// the result does not depend on the count. The GIL is released while it runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.h"

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace py = pybind11;
using namespace talkinghead;

namespace {

py::array_t<float> tps_forward(const py::array &disp, const py::array &matrix, const py::array &scale,
                               int num_threads) {
    check_threads(num_threads);
    check_array(disp, "disp", py::dtype::of<float>(), "float32", disp.ndim() == 2 && disp.shape(1) == 2,
                "(K, 2)");
    check_array(matrix, "matrix", py::dtype::of<std::int16_t>(), "int16",
                matrix.ndim() == 2 && matrix.shape(0) == disp.shape(0), "(K, N) with K the rows of disp");
    check_array(scale, "scale", py::dtype::of<float>(), "float32", scale.ndim() == 1 && scale.shape(0) == matrix.shape(1),
                "(N,) with N the columns of matrix");
    const std::ptrdiff_t k = matrix.shape(0), n = matrix.shape(1);
    const float *d = static_cast<const float *>(disp.data());
    const std::int16_t *q = static_cast<const std::int16_t *>(matrix.data());
    const float *s = static_cast<const float *>(scale.data());
    py::array_t<float> out({n, std::ptrdiff_t{2}});
    float *o = out.mutable_data();
    {
        py::gil_scoped_release release;
        parallel_rows(n, n * k, num_threads, [&](std::ptrdiff_t c0, std::ptrdiff_t c1) {
            const std::ptrdiff_t w = c1 - c0;
            std::vector<float> ax(static_cast<std::size_t>(w), 0.0f), ay(ax.size(), 0.0f);
            float *__restrict x = ax.data();
            float *__restrict y = ay.data();
            for (std::ptrdiff_t i = 0; i < k; ++i) {
                const float dx = d[2 * i], dy = d[2 * i + 1];
                const std::int16_t *__restrict row = q + i * n + c0;
                for (std::ptrdiff_t j = 0; j < w; ++j) {  // vectorizes: int16 -> float32 in SIMD lanes
                    const float v = static_cast<float>(row[j]);
                    x[j] += dx * v;
                    y[j] += dy * v;
                }
            }
            for (std::ptrdiff_t j = 0; j < w; ++j) {
                o[2 * (c0 + j)] = ax[j] * s[c0 + j];
                o[2 * (c0 + j) + 1] = ay[j] * s[c0 + j];
            }
        });
    }
    return out;
}

}  // namespace

void register_tps_forward(py::module_ &m) {
    m.def("tps_forward_i16", &tps_forward, py::arg("disp"), py::arg("matrix"), py::arg("scale"),
          py::arg("num_threads") = 0,
          "float32 K×2 displacements times an int16 K×N matrix with float32 per-column scales -> float32 N×2 "
          "(accumulated in float32). num_threads: at most this many threads (0: all hardware threads).");
}
