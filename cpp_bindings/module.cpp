// talkinghead._native: CPU kernels bound with pybind11. Each kernel lives in its own
// file and registers itself here; its plain-PyTorch reference lives in kernels/.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_resample(py::module_ &m);
void register_paste(py::module_ &m);
void register_warp_composite(py::module_ &m);
void register_tps_forward(py::module_ &m);

PYBIND11_MODULE(_native, m) {
    m.doc() = "talkinghead CPU kernels (see kernels/ for the reference implementations)";
    register_resample(m);
    register_paste(m);
    register_warp_composite(m);
    register_tps_forward(m);
}
