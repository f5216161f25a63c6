#!/usr/bin/env bash
# Diagnose C++ exceptions thrown from the device-built binding (they crashed python on the device).
echo "--- compilers"; ls -la /usr/bin/g++* /opt/gcc/bin/g++ 2>&1 | head; /opt/gcc/bin/g++ --version | head -1
echo "--- libstdc++ of _C"; ldd machete/_C*.so | grep -E "stdc|gcc_s"
python3 -c "import torch; print('torch cxx11 abi', torch._C._GLIBCXX_USE_CXX11_ABI, torch.__version__)"
echo "--- loaded libstdc++ in python"; python3 -c "import torch, machete._C; print([l.split()[-1] for l in open('/proc/self/maps') if 'libstdc' in l][:3])"
for tag in btype group96 schedule; do
  timeout 60 python3 - "$tag" <<'PY'
import sys, torch, machete._C as C
tag = sys.argv[1]
a = torch.zeros(16, 256, dtype=torch.float16, device="cuda"); b = torch.zeros(32, 256, dtype=torch.int32, device="cuda")
s = torch.zeros(2, 256, dtype=torch.float16, device="cuda")
try:
    if tag == "btype": C.mm(a, b, 0x1234, None, s, None, 128, None, None, None)
    if tag == "group96": C.mm(a, b, 0x4000000100400, None, s, None, 96, None, None, None)
    if tag == "schedule": C.mm(a, b, 0x4000000100400, None, s, None, 128, None, None, "nope")
except Exception as e:
    print("raised", tag, type(e).__name__, str(e)[:80])
PY
  echo "$tag rc=$?"
done
