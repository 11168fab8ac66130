#include <pybind11/pybind11.h>
namespace py = pybind11;
void register_resample(py::module_ &m) {}
