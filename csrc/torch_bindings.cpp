// torch_bindings.cpp -- the Python module machete._C (the only translation unit that includes torch).
//
// Minimal checks only (device, dtype, strides: enough that nothing crashes); machete/ops.py does
// the full validation. C++ exceptions map to Python ones: std::invalid_argument and
// TORCH_CHECK_VALUE -> ValueError, everything else -> RuntimeError.
//
// API (see csrc/README.md):
//   mm(a, b, b_type_id, out_type=None, group_scales=None, group_zeros=None, group_size=None,
//      channel_scales=None, token_scales=None, schedule=None) -> Tensor[M, N]
//   prepack_B(b, a_type, b_type_id, group_scales_type=None) -> Tensor (same shape/dtype as b)
//   supported_schedules(a_type, b_type_id, group_scales_type=None, group_zeros_type=None,
//      channel_scales_type=None, token_scales_type=None, out_type=None) -> list[str]
//   heuristic_schedule(M, N, K, a_type, b_type_id, group_scales_type=None, group_zeros_type=None,
//      channel_scales_type=None, token_scales_type=None, out_type=None) -> str
#include <cstdio>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/extension.h>

#include "machete/mm_args.h"

namespace {

using machete::ScalarKind;

// pybind11 maps std::invalid_argument to ValueError. [[noreturn]] so no switch falls off the end.
[[noreturn]] void value_error(std::string const& msg) { throw std::invalid_argument(msg); }

// Argument checks throw std::invalid_argument (-> ValueError) rather than c10 exceptions: a
// c10::Error escaping this module's pybind11 functions crashed the interpreter on the device
// (torch 2.11 wheel); see also guarded() below.
template <class... Ts>
void check_value(bool cond, Ts const&... parts) {
  if (!cond) {
    std::ostringstream os;
    (os << ... << parts);
    throw std::invalid_argument(os.str());
  }
}

// Run f, converting c10 exceptions (from torch calls such as allocation) to std exceptions that
// pybind11 translates by itself.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (c10::ValueError const& e) {
    throw std::invalid_argument(e.what_without_backtrace());
  } catch (c10::Error const& e) {
    throw std::runtime_error(e.what_without_backtrace());
  }
}

ScalarKind kind_of_dtype(at::ScalarType t, const char* what) {
  switch (t) {
    case at::kHalf: return ScalarKind::F16;
    case at::kBFloat16: return ScalarKind::BF16;
    case at::kFloat: return ScalarKind::F32;
    case at::kInt: return ScalarKind::S32;
    case at::kChar: return ScalarKind::S8;
    case at::kFloat8_e4m3fn: return ScalarKind::E4M3;
    default: break;
  }
  value_error(std::string("machete: unsupported dtype for ") + what + ": " + c10::toString(t));
}

ScalarKind kind_of_opt_dtype(std::optional<at::ScalarType> t, const char* what) {
  return t ? kind_of_dtype(*t, what) : ScalarKind::Void;
}

ScalarKind kind_of_opt_tensor(std::optional<at::Tensor> const& t, const char* what) {
  return t ? kind_of_dtype(t->scalar_type(), what) : ScalarKind::Void;
}

// Scalar-type ids (SPEC §5).
ScalarKind kind_of_b_type(int64_t id) {
  switch (id) {
    case 0x4000000100400LL: return ScalarKind::U4B8;
    case 0x4000001000800LL: return ScalarKind::U8B128;
    case 0x4000000000400LL: return ScalarKind::U4;
    case 0x4000000000800LL: return ScalarKind::U8;
    case 0x4000000010300LL: return ScalarKind::S4;
    case 0x4000000010700LL: return ScalarKind::S8;
    default: break;
  }
  char buf[64];
  snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(id));
  value_error(std::string("machete: unsupported b_type id ") + buf);
}

int sm_count(int device) {
  static int cache[64] = {0};
  if (device < 0 || device >= 64) return 0;
  if (cache[device] == 0) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, device) == cudaSuccess) cache[device] = v;
  }
  return cache[device];
}

void check_cuda(at::Tensor const& t, at::Tensor const& ref, const char* what) {
  check_value(t.is_cuda(), "machete: ", what, " must be a CUDA tensor");
  check_value(t.device() == ref.device(), "machete: ", what, " must be on ", ref.device());
}

// Workspace from the caching allocator, on the current stream; kept alive until the call returns
// (the allocator's stream-ordered reuse makes that safe for the kernel that uses it).
struct WorkspaceHolder {
  at::TensorOptions opts;
  std::vector<at::Tensor> keep;
  static void* allocate(void* ctx, size_t bytes) {
    auto* self = static_cast<WorkspaceHolder*>(ctx);
    self->keep.push_back(at::empty({static_cast<int64_t>(bytes)}, self->opts));
    return self->keep.back().data_ptr();
  }
};

// Row-major 2-D with unit column stride and 16-byte aligned row stride and base; else a copy.
at::Tensor row_major_16b(at::Tensor t) {
  const int64_t esz = t.element_size();
  bool ok = t.dim() == 2 && (t.size(1) <= 1 || t.stride(1) == 1) &&
            (t.size(0) <= 1 || (t.stride(0) >= t.size(1) && (t.stride(0) * esz) % 16 == 0)) &&
            reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0;
  return ok ? t : t.contiguous();
}

at::Tensor mm(at::Tensor a, at::Tensor b, int64_t b_type_id, std::optional<at::ScalarType> out_type,
              std::optional<at::Tensor> group_scales, std::optional<at::Tensor> group_zeros,
              std::optional<int64_t> group_size, std::optional<at::Tensor> channel_scales,
              std::optional<at::Tensor> token_scales, std::optional<std::string> schedule) {
  check_value(a.is_cuda(), "machete.mm: a must be a CUDA tensor");
  check_value(a.dim() == 2, "machete.mm: a must be 2-D [M, K]");
  check_value(b.dim() == 2 && b.scalar_type() == at::kInt, "machete.mm: b must be 2-D int32 (prepacked)");
  check_cuda(b, a, "b");
  const c10::cuda::CUDAGuard guard(a.device());

  machete::MMArgs args;
  args.a_type = kind_of_dtype(a.scalar_type(), "a");
  args.b_type = kind_of_b_type(b_type_id);
  args.out_type = out_type ? kind_of_dtype(*out_type, "out_type") : args.a_type;
  const int bits = machete::scalar_bits(args.b_type);

  a = row_major_16b(a);
  b = b.is_contiguous() || b.t().is_contiguous() ? b : b.t().contiguous().t();
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  check_value(b.numel() * 32 == K * N * bits, "machete.mm: b holds ", b.numel(),
                    " int32 words, expected K*N*bits/32 = ", K * N * bits / 32, " (K=", K, ", N=", N, ")");
  args.M = M;
  args.N = N;
  args.K = K;
  args.A = a.data_ptr();
  args.lda = M > 1 ? a.stride(0) : K;
  args.B = b.data_ptr();

  int64_t g = group_size.value_or(-1);
  if (g <= 0) g = K;
  args.group_size = g;
  if (group_scales) {
    check_cuda(*group_scales, a, "group_scales");
    auto gs = row_major_16b(*group_scales);
    check_value(gs.size(0) == (K + g - 1) / g && gs.size(1) == N, "machete.mm: group_scales must be [",
                (K + g - 1) / g, ", ", N, "] for group_size ", g, ", got [", gs.size(0), ", ", gs.size(1), "]");
    args.group_scales_type = kind_of_dtype(gs.scalar_type(), "group_scales");
    args.group_scales = gs.data_ptr();
    args.ld_group = gs.size(0) > 1 ? gs.stride(0) : N;
    group_scales = gs;
    if (group_zeros) {
      check_cuda(*group_zeros, a, "group_zeros");
      check_value(group_zeros->dim() == 2 && group_zeros->size(0) == gs.size(0) && group_zeros->size(1) == gs.size(1), "machete.mm: group_zeros must have the shape of group_scales");
      // Zeros share the scales' stride in the kernel: give them the same layout.
      at::Tensor gz = *group_zeros;
      if (gz.strides() != gs.strides() || reinterpret_cast<uintptr_t>(gz.data_ptr()) % 16) {
        gz = at::empty_strided(gs.sizes(), gs.strides(), gz.options());
        gz.copy_(*group_zeros);
      }
      args.group_zeros_type = kind_of_dtype(gz.scalar_type(), "group_zeros");
      args.group_zeros = gz.data_ptr();
      group_zeros = gz;
    }
  } else {
    check_value(!group_zeros, "machete.mm: group_zeros given without group_scales");
  }
  if (channel_scales) {
    check_cuda(*channel_scales, a, "channel_scales");
    channel_scales = channel_scales->contiguous();
    args.channel_scales_type = kind_of_dtype(channel_scales->scalar_type(), "channel_scales");
    args.channel_scales = channel_scales->data_ptr();
  }
  if (token_scales) {
    check_cuda(*token_scales, a, "token_scales");
    token_scales = token_scales->contiguous();
    args.token_scales_type = kind_of_dtype(token_scales->scalar_type(), "token_scales");
    args.token_scales = token_scales->data_ptr();
  }

  at::Tensor d = at::empty({M, N}, a.options().dtype(out_type.value_or(a.scalar_type())));
  args.D = d.data_ptr();
  args.ldd = N;
  args.stream = c10::cuda::getCurrentCUDAStream(a.get_device()).stream();
  args.sm_count = sm_count(a.get_device());

  WorkspaceHolder ws{a.options().dtype(at::kByte), {}};
  args.workspace.allocate = &WorkspaceHolder::allocate;
  args.workspace.ctx = &ws;
  if (M == 0) return d;

  machete::mm_dispatch(args, schedule ? schedule->c_str() : nullptr);
  return d;
}

at::Tensor prepack_B(at::Tensor b, at::ScalarType a_type, int64_t b_type_id,
                     std::optional<at::ScalarType> group_scales_type) {
  check_value(b.is_cuda(), "machete.prepack_B: b must be a CUDA tensor");
  check_value(b.dim() == 2 && b.scalar_type() == at::kInt, "machete.prepack_B: b must be 2-D int32");
  const c10::cuda::CUDAGuard guard(b.device());
  machete::PrepackArgs args;
  args.a_type = kind_of_dtype(a_type, "a_type");
  args.b_type = kind_of_b_type(b_type_id);
  args.convert_type = group_scales_type ? kind_of_dtype(*group_scales_type, "group_scales_type") : args.a_type;
  const int bits = machete::scalar_bits(args.b_type);
  const int64_t pack = 32 / bits;
  args.K = b.size(0) * pack;
  args.N = b.size(1);
  // The kernel reads column-major words (K packed along the column).
  at::Tensor bc = b.t().contiguous().t();
  at::Tensor out = at::empty_strided({b.size(0), b.size(1)}, {1, b.size(0)}, b.options());
  args.B = bc.data_ptr();
  args.out = out.data_ptr();
  args.stream = c10::cuda::getCurrentCUDAStream(b.get_device()).stream();
  machete::prepack_B_dispatch(args);
  return out;
}

std::vector<std::string> supported_schedules(at::ScalarType a_type, int64_t b_type_id,
                                             std::optional<at::ScalarType> group_scales_type,
                                             std::optional<at::ScalarType> group_zeros_type,
                                             std::optional<at::ScalarType> channel_scales_type,
                                             std::optional<at::ScalarType> token_scales_type,
                                             std::optional<at::ScalarType> out_type) {
  ScalarKind a = kind_of_dtype(a_type, "a_type");
  return machete::supported_schedules(
      a, kind_of_b_type(b_type_id), kind_of_opt_dtype(group_scales_type, "group_scales_type"),
      kind_of_opt_dtype(group_zeros_type, "group_zeros_type"),
      kind_of_opt_dtype(channel_scales_type, "channel_scales_type"),
      kind_of_opt_dtype(token_scales_type, "token_scales_type"),
      out_type ? kind_of_dtype(*out_type, "out_type") : a);
}

std::string heuristic_schedule(int64_t M, int64_t N, int64_t K, at::ScalarType a_type, int64_t b_type_id,
                               std::optional<at::ScalarType> group_scales_type,
                               std::optional<at::ScalarType> group_zeros_type,
                               std::optional<at::ScalarType> channel_scales_type,
                               std::optional<at::ScalarType> token_scales_type,
                               std::optional<at::ScalarType> out_type) {
  machete::MMArgs args;
  args.M = M;
  args.N = N;
  args.K = K;
  args.a_type = kind_of_dtype(a_type, "a_type");
  args.b_type = kind_of_b_type(b_type_id);
  args.group_scales_type = kind_of_opt_dtype(group_scales_type, "group_scales_type");
  args.group_zeros_type = kind_of_opt_dtype(group_zeros_type, "group_zeros_type");
  args.channel_scales_type = kind_of_opt_dtype(channel_scales_type, "channel_scales_type");
  args.token_scales_type = kind_of_opt_dtype(token_scales_type, "token_scales_type");
  args.out_type = out_type ? kind_of_dtype(*out_type, "out_type") : args.a_type;
  return machete::heuristic_schedule(args);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  namespace py = pybind11;
  m.doc() = "machete: Hopper mixed-input GEMM (CUTLASS) -- low-level binding; use machete.mm";
  m.def("mm", [](at::Tensor a, at::Tensor b, int64_t id, std::optional<at::ScalarType> ot, std::optional<at::Tensor> gs, std::optional<at::Tensor> gz, std::optional<int64_t> g, std::optional<at::Tensor> cs, std::optional<at::Tensor> ts, std::optional<std::string> sch) { return guarded([&] { return mm(a, b, id, ot, gs, gz, g, cs, ts, sch); }); }, py::arg("a"), py::arg("b"), py::arg("b_type_id"), py::arg("out_type") = py::none(),
        py::arg("group_scales") = py::none(), py::arg("group_zeros") = py::none(),
        py::arg("group_size") = py::none(), py::arg("channel_scales") = py::none(),
        py::arg("token_scales") = py::none(), py::arg("schedule") = py::none());
  m.def("prepack_B", [](at::Tensor b, at::ScalarType at_, int64_t id, std::optional<at::ScalarType> gst) { return guarded([&] { return prepack_B(b, at_, id, gst); }); }, py::arg("b"), py::arg("a_type"), py::arg("b_type_id"),
        py::arg("group_scales_type") = py::none());
  m.def("supported_schedules", &supported_schedules, py::arg("a_type"), py::arg("b_type_id"),
        py::arg("group_scales_type") = py::none(), py::arg("group_zeros_type") = py::none(),
        py::arg("channel_scales_type") = py::none(), py::arg("token_scales_type") = py::none(),
        py::arg("out_type") = py::none());
  m.def("heuristic_schedule", &heuristic_schedule, py::arg("M"), py::arg("N"), py::arg("K"),
        py::arg("a_type"), py::arg("b_type_id"), py::arg("group_scales_type") = py::none(),
        py::arg("group_zeros_type") = py::none(), py::arg("channel_scales_type") = py::none(),
        py::arg("token_scales_type") = py::none(), py::arg("out_type") = py::none());
}
