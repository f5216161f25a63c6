"""Host time per phase of a CUTLASS-path machete::mm call (cutlass_host_cost.cu; development tool).

    python3 scripts/decode_dev/cutlass_host_cost.py .devbuild/libcutlass_host_cost.so [--shapes 128x4096x4096,...]
"""
import argparse
import ctypes

import torch

PHASES = ("make_arguments", "can_implement", "get_workspace_size", "initialize_workspace (memset)",
          "to_underlying_arguments", "cudaFuncSetAttribute", "adapter run(params) (launch)", "whole run()",
          None, "launch (ours)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--shapes", default="128x4096x4096,64x256x128,1024x4096x4096")
    ap.add_argument("--iters", type=int, default=2000)
    args = ap.parse_args()
    lib = ctypes.CDLL(args.lib)
    lib.host_cost.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4 + [ctypes.c_void_p, ctypes.c_int,
                                                                           ctypes.POINTER(ctypes.c_double)]
    for shape in args.shapes.split(","):
        m, n, k = (int(x) for x in shape.split("x"))
        a = torch.randn(m, k, device="cuda", dtype=torch.float16)
        b = torch.randint(0, 255, (n * k // 2,), device="cuda", dtype=torch.uint8)
        s = torch.ones(k // 128, n, device="cuda", dtype=torch.float16) / 64
        d = torch.empty(m, n, device="cuda", dtype=torch.float16)
        out = (ctypes.c_double * 10)()
        stream = torch.cuda.current_stream().cuda_stream
        rc = lib.host_cost(a.data_ptr(), b.data_ptr(), d.data_ptr(), s.data_ptr(), m, n, k, 128, stream,
                           args.iters, out)
        print(f"M={m} N={n} K={k} (128x64 c2 stream-K; workspace {int(out[8])} B) rc={rc}: host us per call")
        for name, v in zip(PHASES, out):
            if name is not None:
                print(f"  {name:32s} {v:7.2f}")


if __name__ == "__main__":
    main()
