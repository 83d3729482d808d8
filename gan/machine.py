"""What machine this is: the CPU's model name (figures and digests are per CPU kind), and what
oneDNN will really run here, which decides --precision auto and whether bf16 can run at all.

Two settings outside the CPU change the answer, and both are read here:
  TF_ENABLE_ONEDNN_OPTS  TensorFlow's switch for its oneDNN kernels and graph rewrites (the bf16
                         rewrite is one). Unset, TensorFlow turns them on only on CPUs with
                         AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; 0 turns them off, 1 on.
  ONEDNN_MAX_CPU_ISA     oneDNN's cap on the instruction sets it uses (SSE41 ... AVX512_CORE_AMX,
                         ALL). TensorFlow rewrites to bf16 by the CPU's flags, not by this cap, so
                         a cap below AVX512_CORE used to end in a C++ abort ("could not create a
                         primitive descriptor") instead of a slower run.
The decisions are pure functions of (flags, environment), so tests can ask them about any CPU.
"""

import os
import platform

# oneDNN's instruction sets from oldest to newest, each with the /proc/cpuinfo flags it needs
# (oneDNN's names; the AVX10 spellings are its newer names for the last three).
ISAS = (
    ("SSE41", {"sse4_1"}),
    ("AVX", {"avx"}),
    ("AVX2", {"avx2"}),
    ("AVX2_VNNI", {"avx2", "avx_vnni"}),
    ("AVX2_VNNI_2", {"avx2", "avx_vnni", "avx_vnni_int8", "avx_ne_convert"}),
    ("AVX512_CORE", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("AVX512_CORE_VNNI", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}),
    ("AVX512_CORE_BF16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                          "avx512_bf16"}),
    ("AVX512_CORE_FP16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                          "avx512_bf16", "avx512_fp16"}),
    ("AVX512_CORE_AMX", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                         "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"}),
    ("AVX512_CORE_AMX_FP16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
                              "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16"}),
)
ORDER = [name for name, _ in ISAS]
ALIASES = {"AVX10_1_512": "AVX512_CORE_FP16", "AVX10_1_512_AMX": "AVX512_CORE_AMX",
           "AVX10_1_512_AMX_FP16": "AVX512_CORE_AMX_FP16"}
NO_CAP = {"", "ALL", "DEFAULT"}
# TensorFlow turns oneDNN on by itself (Linux) only where one of these is present.
ONEDNN_BY_DEFAULT = {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or f"{os.cpu_count()}-core CPU"


def cpu_flags():
    """The CPU's feature flags (avx512_bf16, amx_bf16, ...); empty where /proc/cpuinfo is not."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return []


def isa_cap(env):
    """ONEDNN_MAX_CPU_ISA as one of ORDER, or None for no cap (unset, ALL, DEFAULT, or a value
    oneDNN does not know, which it ignores)."""
    value = env.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    value = ALIASES.get(value, value)
    return value if value in ORDER else None


def onednn_on(flags, env):
    """Whether TensorFlow runs its oneDNN kernels and rewrites: TF_ENABLE_ONEDNN_OPTS if it says
    yes or no, else TensorFlow's own default for these flags."""
    value = env.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if value in ("0", "false"):
        return False
    if value in ("1", "true"):
        return True
    return bool(ONEDNN_BY_DEFAULT & set(flags))


def onednn_isa(flags, env):
    """The instruction set oneDNN will use: the newest the CPU has at or below the cap."""
    cap = isa_cap(env)
    have = set(flags)
    allowed = ORDER if cap is None else ORDER[:ORDER.index(cap) + 1]
    return next((name for name, needs in reversed(ISAS) if name in allowed and needs <= have),
                None)


def bf16(flags, env):
    """(runs, fast, why) for the bf16 rewrite on this CPU: runs where oneDNN is on and may use
    AVX512_CORE or newer (it emulates bf16 there), fast where it may use AVX512_BF16 or AMX;
    why says what decided it, in words for a log line."""
    isa, cap = onednn_isa(flags, env), isa_cap(env)
    capped = f" (ONEDNN_MAX_CPU_ISA={env.get('ONEDNN_MAX_CPU_ISA')})" if cap else ""
    if not onednn_on(flags, env):
        if env.get("TF_ENABLE_ONEDNN_OPTS", "").strip():
            return False, False, (f"TF_ENABLE_ONEDNN_OPTS={env['TF_ENABLE_ONEDNN_OPTS']} turns "
                                  f"oneDNN off, and bf16 is its rewrite")
        return False, False, ("TensorFlow keeps oneDNN, which bf16 needs, off on this CPU (it has "
                              "no AVX512_VNNI, AVX512_BF16 or AMX)")
    if isa is None or ORDER.index(isa) < ORDER.index("AVX512_CORE"):
        return False, False, f"oneDNN may use {isa or 'no x86 vector set'} here{capped}; bf16 " \
                             f"needs AVX512_CORE or newer"
    if ORDER.index(isa) < ORDER.index("AVX512_CORE_BF16"):
        return True, False, f"oneDNN may use {isa} here{capped}: bf16 runs emulated, slower " \
                            f"than fp32"
    name = "AMX" if "AMX" in isa else "AVX512-BF16"
    return True, True, f"oneDNN runs bf16 on {name} here{capped}"


def isa_class(flags, env):
    """A short name for the arithmetic in force, for keying bit-exact digests: the class of the
    instruction set oneDNN may use, ONEDNN_MAX_CPU_ISA included, with oneDNN's rewrites on or
    off (off, Eigen's matrix products still call oneDNN's sgemm, which follows the cap: under
    ONEDNN_MAX_CPU_ISA=AVX on an AVX2 CPU all four digests changed)."""
    isa = onednn_isa(flags, env)
    if isa is None:
        return "other"
    if "AMX" in isa:
        return "amx"
    if isa in ("AVX512_CORE_BF16", "AVX512_CORE_FP16"):
        return "avx512_bf16"
    if isa.startswith("AVX512"):
        return "avx512"
    return isa.lower().split("_")[0]  # avx2 (with or without VNNI), avx, sse41


def digest_key(tf_version, flags=None, env=None, name=None):
    """What a bit-for-bit digest is kept under: CPU model, oneDNN ISA class, oneDNN on or off,
    TensorFlow version."""
    flags = cpu_flags() if flags is None else flags
    env = os.environ if env is None else env
    return (f"{cpu_name() if name is None else name} | {isa_class(flags, env)} | "
            f"oneDNN {'on' if onednn_on(flags, env) else 'off'} | TensorFlow {tf_version}")


def here():
    """bf16(...) for this process's CPU and environment."""
    return bf16(cpu_flags(), os.environ)
