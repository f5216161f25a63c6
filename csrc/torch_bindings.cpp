// torch_bindings.cpp -- the compiled half of the Python module machete._C (the only translation
// unit that includes torch). machete/_C.py is the Python half: it calls this extension
// (machete._C_ext) and turns its error returns into ValueError / RuntimeError.
//
// Why error returns: on the device image (torch 2.11 + /opt/gcc), any C++ exception *thrown* from
// code compiled there (TORCH_CHECK_VALUE, or a plain std::invalid_argument) crashed the interpreter
// with SIGSEGV, while exceptions thrown in the separately compiled kernel objects were translated
// fine. So this file never throws: checks record an error and return early, and exceptions from
// the kernel/dispatch code are caught here (catching works) and returned as (code, None, message).
//
// Every entry returns a tuple (code, value, message): code 0 = ok (value valid), 1 = invalid
// argument (-> ValueError), 2 = runtime failure (-> RuntimeError).
//
// Minimal checks only (device, dtype, strides: enough that nothing crashes); machete/ops.py does
// the full validation. API: see csrc/README.md.
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/extension.h>

#include "machete/mm_args.h"

namespace py = pybind11;

namespace {

using machete::ScalarKind;

struct Err {
  int code = 0;
  std::string msg;
  bool set(int c, std::string m) {
    code = c;
    msg = std::move(m);
    return false;
  }
};

inline std::string str(int64_t v) { return std::to_string(v); }

// Checks: record the first error; callers return when a check fails.
#define MCHECK(cond, message)                   \
  do {                                          \
    if (!(cond)) {                              \
      err.set(1, std::string(message));         \
      return {};                                \
    }                                           \
  } while (0)

#define MTRY(expr)            \
  do {                        \
    if (!(expr)) return {};   \
  } while (0)

// The dtype -> ScalarKind pairs come from the scalar table (machete/scalar_kind.h's X-macro).
bool kind_of_dtype(at::ScalarType t, const char* what, ScalarKind& out, Err& err) {
#define MACHETE_DTYPE_CASE(DTYPE, KIND) \
  case at::ScalarType::DTYPE: out = ScalarKind::KIND; return true;
  switch (t) {
    MACHETE_FOREACH_TORCH_SCALAR_KIND(MACHETE_DTYPE_CASE)
    default: break;
  }
#undef MACHETE_DTYPE_CASE
  return err.set(1, std::string("machete: unsupported dtype for ") + what + ": " + c10::toString(t));
}

bool kind_of_opt_dtype(std::optional<at::ScalarType> t, const char* what, ScalarKind& out, Err& err) {
  if (!t) {
    out = ScalarKind::Void;
    return true;
  }
  return kind_of_dtype(*t, what, out, err);
}

// Scalar-type ids (SPEC §5) of the table's b_types (machete/scalar_kind.h).
bool kind_of_b_type(int64_t id, ScalarKind& out, Err& err) {
  const ScalarKind kind = machete::scalar_kind_of_b_type_id(id);
  if (kind != ScalarKind::Void) {
    out = kind;
    return true;
  }
  char buf[64];
  snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(id));
  return err.set(1, std::string("machete: unsupported b_type id ") + buf);
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

// The name the dispatch matches its per-GPU heuristic tables against: MACHETE_DEVICE_NAME if set
// (to try another GPU's table), else cudaDeviceProp::name of the device; nullptr if unknown.
const char* device_name(int device) {
  static const char* env = std::getenv("MACHETE_DEVICE_NAME");
  if (env != nullptr && env[0] != '\0') return env;
  static std::string names[64];
  static std::once_flag once[64];
  if (device < 0 || device >= 64) return nullptr;
  std::call_once(once[device], [device] {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) names[device] = prop.name;
    else cudaGetLastError();
  });
  return names[device].empty() ? nullptr : names[device].c_str();
}

bool same_cuda_device(at::Tensor const& t, at::Tensor const& ref, const char* what, Err& err) {
  if (!t.is_cuda()) return err.set(1, std::string("machete: ") + what + " must be a CUDA tensor");
  if (t.device() != ref.device()) return err.set(1, std::string("machete: ") + what + " must be on the device of a");
  return true;
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

std::optional<at::Tensor> mm_impl(Err& err, at::Tensor a, at::Tensor b, int64_t b_type_id,
                                  std::optional<at::ScalarType> out_type, std::optional<at::Tensor> group_scales,
                                  std::optional<at::Tensor> group_zeros, std::optional<int64_t> group_size,
                                  std::optional<at::Tensor> channel_scales, std::optional<at::Tensor> token_scales,
                                  std::optional<std::string> schedule) {
  MCHECK(a.is_cuda(), "machete.mm: a must be a CUDA tensor");
  MCHECK(a.dim() == 2, "machete.mm: a must be 2-D [M, K]");
  MCHECK(b.dim() == 2 && b.scalar_type() == at::kInt, "machete.mm: b must be 2-D int32 (prepacked)");
  MTRY(same_cuda_device(b, a, "b", err));
  const c10::cuda::CUDAGuard guard(a.device());

  machete::MMArgs args;
  MTRY(kind_of_dtype(a.scalar_type(), "a", args.a_type, err));
  MTRY(kind_of_b_type(b_type_id, args.b_type, err));
  // W4A8 (8-bit a) writes f16; W4A16 writes a's dtype, unless out_type says otherwise
  const bool eight_bit_a = machete::scalar_bits(args.a_type) == 8;
  const at::ScalarType out_dtype = out_type.value_or(eight_bit_a ? at::kHalf : a.scalar_type());
  MTRY(kind_of_dtype(out_dtype, "out_type", args.out_type, err));
  const int bits = machete::scalar_bits(args.b_type);

  a = row_major_16b(a);
  b = b.is_contiguous() || b.t().is_contiguous() ? b : b.t().contiguous().t();
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  MCHECK(b.numel() * 32 == K * N * bits, "machete.mm: b holds " + str(b.numel()) +
                                             " int32 words, expected K*N*bits/32 = " + str(K * N * bits / 32) +
                                             " (K=" + str(K) + ", N=" + str(N) + ")");
  args.M = M;
  args.N = N;
  args.K = K;
  args.A = a.data_ptr();
  args.lda = M > 1 ? a.stride(0) : K;
  args.B = b.data_ptr();

  int64_t g = group_size.value_or(-1);
  if (g <= 0) g = K;
  args.group_size = g;
  at::Tensor gs, gz;  // keep possibly-copied tensors alive until the launch
  if (group_scales) {
    MTRY(same_cuda_device(*group_scales, a, "group_scales", err));
    MCHECK(group_scales->dim() == 2, "machete.mm: group_scales must be 2-D");
    gs = row_major_16b(*group_scales);
    MCHECK(gs.size(0) == (K + g - 1) / g && gs.size(1) == N,
           "machete.mm: group_scales must be [" + str((K + g - 1) / g) + ", " + str(N) + "] for group_size " +
               str(g) + ", got [" + str(gs.size(0)) + ", " + str(gs.size(1)) + "]");
    MTRY(kind_of_dtype(gs.scalar_type(), "group_scales", args.group_scales_type, err));
    args.group_scales = gs.data_ptr();
    args.ld_group = gs.size(0) > 1 ? gs.stride(0) : N;
    if (group_zeros) {
      MTRY(same_cuda_device(*group_zeros, a, "group_zeros", err));
      MCHECK(group_zeros->dim() == 2 && group_zeros->size(0) == gs.size(0) && group_zeros->size(1) == gs.size(1),
             "machete.mm: group_zeros must have the shape of group_scales");
      // Zeros share the scales' stride in the kernel: give them the same layout.
      gz = *group_zeros;
      if (gz.strides() != gs.strides() || reinterpret_cast<uintptr_t>(gz.data_ptr()) % 16) {
        gz = at::empty_strided(gs.sizes(), gs.strides(), gz.options());
        gz.copy_(*group_zeros);
      }
      MTRY(kind_of_dtype(gz.scalar_type(), "group_zeros", args.group_zeros_type, err));
      args.group_zeros = gz.data_ptr();
    }
  } else {
    MCHECK(!group_zeros, "machete.mm: group_zeros given without group_scales");
  }
  at::Tensor cs, ts;
  if (channel_scales) {
    MTRY(same_cuda_device(*channel_scales, a, "channel_scales", err));
    MCHECK(channel_scales->dim() == 1 && channel_scales->size(0) == N,
           "machete.mm: channel_scales must be [N] = [" + str(N) + "]");
    cs = channel_scales->contiguous();
    if (reinterpret_cast<uintptr_t>(cs.data_ptr()) % 16) cs = cs.clone();  // the CUTLASS epilogue loads 4 at a time
    MTRY(kind_of_dtype(cs.scalar_type(), "channel_scales", args.channel_scales_type, err));
    args.channel_scales = cs.data_ptr();
  }
  if (token_scales) {
    MTRY(same_cuda_device(*token_scales, a, "token_scales", err));
    MCHECK(token_scales->dim() == 1 && token_scales->size(0) == M,
           "machete.mm: token_scales must be [M] = [" + str(M) + "]");
    ts = token_scales->contiguous();
    MTRY(kind_of_dtype(ts.scalar_type(), "token_scales", args.token_scales_type, err));
    args.token_scales = ts.data_ptr();
  }

  at::Tensor d = at::empty({M, N}, a.options().dtype(out_dtype));
  args.D = d.data_ptr();
  args.ldd = N;
  args.stream = c10::cuda::getCurrentCUDAStream(a.get_device()).stream();
  args.sm_count = sm_count(a.get_device());
  args.device_name = device_name(a.get_device());

  WorkspaceHolder ws{a.options().dtype(at::kByte), {}};
  args.workspace.allocate = &WorkspaceHolder::allocate;
  args.workspace.ctx = &ws;
  if (M == 0) return d;

  machete::mm_dispatch(args, schedule ? schedule->c_str() : nullptr);  // may throw (caught by caller)
  return d;
}

std::optional<at::Tensor> prepack_impl(Err& err, at::Tensor b, at::ScalarType a_type, int64_t b_type_id,
                                       std::optional<at::ScalarType> group_scales_type) {
  MCHECK(b.is_cuda(), "machete.prepack_B: b must be a CUDA tensor");
  MCHECK(b.dim() == 2 && b.scalar_type() == at::kInt, "machete.prepack_B: b must be 2-D int32");
  const c10::cuda::CUDAGuard guard(b.device());
  machete::PrepackArgs args;
  MTRY(kind_of_dtype(a_type, "a_type", args.a_type, err));
  MTRY(kind_of_b_type(b_type_id, args.b_type, err));
  if (group_scales_type) {
    MTRY(kind_of_dtype(*group_scales_type, "group_scales_type", args.convert_type, err));
  } else {
    args.convert_type = args.a_type;
  }
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
  machete::prepack_B_dispatch(args);  // may throw (caught by caller)
  return out;
}

struct TypeArgs {
  ScalarKind a, b, gs, gz, cs, ts, out;
};

std::optional<TypeArgs> type_args(Err& err, at::ScalarType a_type, int64_t b_type_id,
                                  std::optional<at::ScalarType> group_scales_type,
                                  std::optional<at::ScalarType> group_zeros_type,
                                  std::optional<at::ScalarType> channel_scales_type,
                                  std::optional<at::ScalarType> token_scales_type,
                                  std::optional<at::ScalarType> out_type) {
  TypeArgs t;
  MTRY(kind_of_dtype(a_type, "a_type", t.a, err));
  MTRY(kind_of_b_type(b_type_id, t.b, err));
  MTRY(kind_of_opt_dtype(group_scales_type, "group_scales_type", t.gs, err));
  MTRY(kind_of_opt_dtype(group_zeros_type, "group_zeros_type", t.gz, err));
  MTRY(kind_of_opt_dtype(channel_scales_type, "channel_scales_type", t.cs, err));
  MTRY(kind_of_opt_dtype(token_scales_type, "token_scales_type", t.ts, err));
  if (out_type) {
    MTRY(kind_of_dtype(*out_type, "out_type", t.out, err));
  } else {
    t.out = t.a;
  }
  return t;
}

// Runs f(err) -> std::optional<T>; returns (code, value or None, message). Never throws.
template <class F>
py::tuple run_entry(F&& f) {
  Err err;
  try {
    auto v = f(err);
    if (err.code == 0 && v) return py::make_tuple(0, py::cast(*v), "");
    if (err.code == 0) err.set(2, "machete: internal error (no result)");
  } catch (std::invalid_argument const& e) {
    err.set(1, e.what());
  } catch (c10::ValueError const& e) {
    err.set(1, e.what_without_backtrace());
  } catch (c10::Error const& e) {
    err.set(2, e.what_without_backtrace());
  } catch (std::exception const& e) {
    err.set(2, e.what());
  } catch (...) {
    err.set(2, "machete: unknown C++ exception");
  }
  return py::make_tuple(err.code, py::none(), err.msg);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "machete: Hopper mixed-input GEMM (CUTLASS); error-returning entries wrapped by machete._C";
  m.def("mm", [](at::Tensor a, at::Tensor b, int64_t b_type_id, std::optional<at::ScalarType> out_type,
                 std::optional<at::Tensor> group_scales, std::optional<at::Tensor> group_zeros,
                 std::optional<int64_t> group_size, std::optional<at::Tensor> channel_scales,
                 std::optional<at::Tensor> token_scales, std::optional<std::string> schedule) {
    return run_entry([&](Err& err) {
      return mm_impl(err, a, b, b_type_id, out_type, group_scales, group_zeros, group_size, channel_scales,
                     token_scales, schedule);
    });
  });
  m.def("prepack_B", [](at::Tensor b, at::ScalarType a_type, int64_t b_type_id,
                        std::optional<at::ScalarType> group_scales_type) {
    return run_entry([&](Err& err) { return prepack_impl(err, b, a_type, b_type_id, group_scales_type); });
  });
  m.def("supported_schedules", [](at::ScalarType a_type, int64_t b_type_id, std::optional<at::ScalarType> gs,
                                  std::optional<at::ScalarType> gz, std::optional<at::ScalarType> cs,
                                  std::optional<at::ScalarType> ts, std::optional<at::ScalarType> out) {
    return run_entry([&](Err& err) -> std::optional<std::vector<std::string>> {
      auto t = type_args(err, a_type, b_type_id, gs, gz, cs, ts, out);
      if (!t) return std::nullopt;
      return machete::supported_schedules(t->a, t->b, t->gs, t->gz, t->cs, t->ts, t->out);
    });
  });
  m.def("heuristic_schedule", [](int64_t M, int64_t N, int64_t K, at::ScalarType a_type, int64_t b_type_id,
                                 std::optional<at::ScalarType> gs, std::optional<at::ScalarType> gz,
                                 std::optional<at::ScalarType> cs, std::optional<at::ScalarType> ts,
                                 std::optional<at::ScalarType> out) {
    return run_entry([&](Err& err) -> std::optional<std::string> {
      auto t = type_args(err, a_type, b_type_id, gs, gz, cs, ts, out);
      if (!t) return std::nullopt;
      machete::MMArgs args;
      args.M = M;
      args.N = N;
      args.K = K;
      args.a_type = t->a;
      args.b_type = t->b;
      args.group_scales_type = t->gs;
      args.group_zeros_type = t->gz;
      args.channel_scales_type = t->cs;
      args.token_scales_type = t->ts;
      args.out_type = t->out;
      int dev = -1;
      if (cudaGetDevice(&dev) == cudaSuccess) args.device_name = device_name(dev);
      else cudaGetLastError();
      return machete::heuristic_schedule(args);
    });
  });
}
