"""--precision auto picks bf16 only where oneDNN will really run it, and --precision bf16 where
it cannot is one line, never a C++ abort: the decision from CPU flags and the environment
(ONEDNN_MAX_CPU_ISA, TF_ENABLE_ONEDNN_OPTS), asked about CPUs this machine is not."""

import json

import pytest

import dcgan
from gan import config
from gan import machine
from gan.errors import UsageError
from script_processes import script_run
AVX2 = ["sse4_1", "avx", "avx2", "fma"]  # this machine's kind (AMD Zen 3)
AVX512 = AVX2 + ["avx512f", "avx512bw", "avx512vl", "avx512dq"]  # Skylake-SP: oneDNN off
AVX512_BF16 = AVX512 + ["avx512_vnni", "avx512_bf16"]  # AMD Zen 4
AMX = AVX512_BF16 + ["avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"]  # Sapphire Rapids


@pytest.mark.parametrize("flags,env,runs,fast", [
    (AMX, {}, True, True),
    (AVX512_BF16, {}, True, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "avx512_core_amx"}, True, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX10_1_512_AMX"}, True, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "ALL"}, True, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "DEFAULT"}, True, True),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"}, True, False),  # emulated: runs, slowly
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, True, False),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False, False),  # the C++ abort of issue 24
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX2_VNNI"}, False, False),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX"}, False, False),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "SSE41"}, False, False),
    (AMX, {"TF_ENABLE_ONEDNN_OPTS": "0"}, False, False),
    (AVX512_BF16, {"TF_ENABLE_ONEDNN_OPTS": "false"}, False, False),
    (AVX512, {}, False, False),  # TensorFlow leaves oneDNN off here
    (AVX512, {"TF_ENABLE_ONEDNN_OPTS": "1"}, True, False),
    (AVX2, {}, False, False),
    (AVX2, {"TF_ENABLE_ONEDNN_OPTS": "1"}, False, False),  # TF's rewrite needs AVX512
    ([], {}, False, False),  # not x86
])
def test_bf16_runs_only_where_onednn_will_run_it(flags, env, runs, fast):
    got_runs, got_fast, why = machine.bf16(flags, env)
    assert (got_runs, got_fast) == (runs, fast), why
    assert why and "\n" not in why
    for name, value in env.items():  # the setting that held bf16 back is named
        if not got_fast and (name == "ONEDNN_MAX_CPU_ISA" or value in ("0", "false")):
            assert f"{name}={value}" in why


@pytest.mark.parametrize("flags,env,kind", [
    (AMX, {}, "amx"), (AVX512_BF16, {}, "avx512_bf16"), (AVX2, {}, "avx2"),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "avx2"),
    (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "avx512_bf16"),
    (AVX512_BF16, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "avx512"),
    (AVX512, {"TF_ENABLE_ONEDNN_OPTS": "1"}, "avx512"),
    # oneDNN's rewrites off: Eigen's matrix products still call oneDNN's sgemm, which follows the
    # cap (on the AVX2 EPYC, ONEDNN_MAX_CPU_ISA=AVX changed all four digests)
    (AMX, {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"}, "avx2"),
    (AVX2, {"ONEDNN_MAX_CPU_ISA": "AVX"}, "avx"),
])
def test_digest_key_names_the_arithmetic_in_force(flags, env, kind):
    key = machine.digest_key("2.21.0", flags, env, name="AMD EPYC")
    switch = env.get("TF_ENABLE_ONEDNN_OPTS")  # unset: TF's default, off below AVX512_BF16
    on = "off" if switch == "0" or (switch is None and flags in (AVX2, AVX512)) else "on"
    assert key == f"AMD EPYC | {kind} | oneDNN {on} | TensorFlow 2.21.0"


def test_two_epycs_get_different_keys():
    assert machine.digest_key("2.21.0", AVX2, {}, "AMD EPYC") != \
        machine.digest_key("2.21.0", AVX512_BF16, {}, "AMD EPYC")


@pytest.fixture
def amx_cpu(monkeypatch):
    """This process believes it runs on an AMX CPU with no oneDNN settings in its environment."""
    monkeypatch.setattr(machine, "cpu_flags", lambda: AMX)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    return monkeypatch


def test_auto_follows_the_isa_cap_and_the_onednn_switch(amx_cpu):
    cfg = lambda: config.new_run(dcgan.SPEC, ["--device", "/cpu:0"], log=lambda m: None)[0]
    assert cfg().precision == "bf16"
    amx_cpu.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cfg().precision == "fp32"
    amx_cpu.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")  # bf16 would run, emulated: not auto
    assert cfg().precision == "fp32"
    amx_cpu.delenv("ONEDNN_MAX_CPU_ISA")
    amx_cpu.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert cfg().precision == "fp32"


@pytest.mark.parametrize("env", [{"ONEDNN_MAX_CPU_ISA": "AVX2"},
                                 {"TF_ENABLE_ONEDNN_OPTS": "0"}])
def test_typed_bf16_that_cannot_run_is_one_line(amx_cpu, env):
    for name, value in env.items():
        amx_cpu.setenv(name, value)
    with pytest.raises(UsageError) as refused:
        config.new_run(dcgan.SPEC, ["--device", "/cpu:0", "--precision", "bf16"])
    message = str(refused.value)
    assert "\n" not in message and "--precision bf16 cannot run here" in message
    assert "".join(f"{k}={v}" for k, v in env.items()) in message


def test_typed_bf16_where_it_runs_emulated_is_allowed(amx_cpu):
    amx_cpu.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    cfg, _ = config.new_run(dcgan.SPEC, ["--device", "/cpu:0", "--precision", "bf16"])
    assert cfg.precision == "bf16"


def test_real_run_under_avx2_says_what_it_picked(tmp_path_factory):
    """A real process with oneDNN held to AVX2 (on an AMX machine this picked bf16 and aborted
    in C++): auto trains at fp32 and says so. It is dcgan's shared process run
    (script_processes.py: ONEDNN_MAX_CPU_ISA=AVX2 set before TensorFlow loads), whose console and
    outputs other tests check. (The refusal of a typed bf16 is tested above in this process: one
    more TensorFlow start-up would cost more than the whole decision.)"""
    result, folder = script_run("dcgan", tmp_path_factory)
    picked = [l for l in result.stdout.splitlines() if l.startswith("--precision auto: ")]
    print(picked[0])
    assert len(picked) == 1 and picked[0].startswith("--precision auto: fp32 (")
    assert (folder / "c" / "model.ckpt-2.index").exists()  # and it trained, at fp32
    assert json.loads((folder / "c" / "config.json").read_text())["precision"] == "fp32"
