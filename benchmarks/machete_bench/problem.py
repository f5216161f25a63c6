"""What is benchmarked: the SPEC §7 shapes and M grid, the type configurations, the peer
implementations' names and types, and the pure arithmetic of bytes and floors."""
from __future__ import annotations

from dataclasses import dataclass

SPEC_SHAPES: tuple[tuple[int, int], ...] = (
    # Llama-3-8B
    (4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096),
    # Llama-2-70B
    (8192, 10240), (8192, 8192), (8192, 57344), (28672, 8192),
)
SPEC_MS: tuple[int, ...] = (1, 16, 32, 64, 128, 256, 512, 1024, 4096)
# Layer shapes (K, N) never used for tuning (benchmarks/tune.py scores on them):
# Llama-2-13B qkv, o, gate_up, down; Qwen2.5-32B qkv, gate_up, down.
HELD_OUT_SHAPES: tuple[tuple[int, int], ...] = (
    (5120, 15360), (5120, 5120), (5120, 27648), (13824, 5120),
    (5120, 7168), (5120, 55296), (27648, 5120),
)
QUICK_SHAPES: tuple[tuple[int, int], ...] = ((4096, 4096), (28672, 8192))
QUICK_MS: tuple[int, ...] = (1, 16, 1024)

DATASHEET_BF16_FLOPS = 989e12  # H100 SXM dense bf16, datasheet
SMALL_M = 16  # M <= SMALL_M: also timed under a CUDA graph; memory-floor targets apply
LARGE_M = 1024  # M >= LARGE_M: the large-M cuBLAS target applies


@dataclass(frozen=True)
class BenchType:
    """One benchmarked type configuration: weights b_type with group scales (+ zeros) of dtype a."""

    name: str
    b_type: str  # attribute name in machete.scalar_types
    bits: int
    bias: int  # stored value = real value + bias (u4b8: 8, u8b128: 128, uint4/uint8: 0)
    a_dtype: str  # "f16" or "bf16"; also the scale / zero / output dtype
    group_size: int  # -1 = channelwise (one group spanning K)
    has_zeros: bool

    def groups(self, k: int) -> int:
        return 1 if self.group_size == -1 else -(-k // self.group_size)

    @property
    def int4pack_applies(self) -> bool:
        """torch's _weight_int4pack_mm handles 4-bit weights with group 128 (bf16 activations)."""
        return self.bits == 4 and self.group_size == 128


BENCH_TYPES: dict[str, BenchType] = {
    t.name: t
    for t in (
        BenchType("u4b8-g128-f16", "uint4b8", 4, 8, "f16", 128, False),
        BenchType("u4b8-g128-bf16", "uint4b8", 4, 8, "bf16", 128, False),
        BenchType("u4zp-g128-f16", "uint4", 4, 0, "f16", 128, True),
        BenchType("u4zp-g128-bf16", "uint4", 4, 0, "bf16", 128, True),
        BenchType("u8b128-ch-f16", "uint8b128", 8, 128, "f16", -1, False),
        BenchType("u8b128-ch-bf16", "uint8b128", 8, 128, "bf16", -1, False),
    )
}
DEFAULT_TYPES: tuple[str, ...] = ("u4b8-g128-f16", "u4b8-g128-bf16", "u4zp-g128-f16", "u8b128-ch-f16")

# Peer implementations: benchmark-only builds of vLLM's own kernels, never part of the product.
# Each build supports exactly one type combination: f16 activations x uint4b8, group 128 f16 scales.
PEERS: tuple[str, ...] = ("marlin", "vllm_machete")
PEER_TYPES: tuple[str, ...] = ("u4b8-g128-f16",)
PEER_LABELS: dict[str, str] = {"marlin": "Marlin", "vllm_machete": "vLLM Machete"}
DEFAULT_PEER_BUILDS: dict[str, str] = {"marlin": "/tmp/vllm_marlin_build", "vllm_machete": "/tmp/vllm_machete_build"}

# Pure arithmetic: bytes, floors (the L2 rotation is in timing.py)

ACT_BYTES = 2  # f16 / bf16 activations, scales, zeros and outputs


def weight_bytes(k: int, n: int, t: BenchType) -> int:
    """Bytes of one weight copy as the kernel reads it: quantized B + scales (+ zeros)."""
    b = k * n * t.bits // 8
    s = t.groups(k) * n * ACT_BYTES
    return b + s * (2 if t.has_zeros else 1)


def moved_bytes(m: int, k: int, n: int, t: BenchType) -> int:
    """Bytes a perfect kernel moves: quantized B + scales (+ zeros) + A + D."""
    return weight_bytes(k, n, t) + m * k * ACT_BYTES + m * n * ACT_BYTES


def mem_floor_us(nbytes: int, copy_bytes_per_s: float) -> float:
    return nbytes / copy_bytes_per_s * 1e6


def compute_limit_us(m: int, n: int, k: int, flops_per_s: float = DATASHEET_BF16_FLOPS) -> float:
    return 2.0 * m * n * k / flops_per_s * 1e6
