"""How the engine's C++ kernels are found, named and refused (inference_service/model/cpu_kernels.py)."""

from __future__ import annotations

import logging

import pytest

from inference_service.model import cpu_kernels
from inference_service.model.cpu_kernels import ALL, CpuKernel


def _kernel(stem: str, supported: bool = True) -> CpuKernel:
    return CpuKernel(stem, f"test kernel {stem}", ("-mavx512f",), lambda: supported, "AVX-512", "torch's ops")


def test_each_kernel_names_its_source_and_lives_under_the_extensions_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    for k in ALL:
        assert k.source.is_file()
        assert k.name().startswith(f"lorafleet_{k.stem}_")
        assert k.built_path() == tmp_path / "lorafleet" / k.name() / f"{k.name()}.so"
    assert len({k.name() for k in ALL}) == len(ALL)


def test_an_edited_source_gets_a_new_name(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_kernels, "KERNELS_DIR", tmp_path)
    (tmp_path / "probe.cpp").write_text("int a;\n")
    before = _kernel("probe").name()
    (tmp_path / "probe.cpp").write_text("int b;\n")
    assert _kernel("probe").name() != before


def test_a_cpu_without_the_extensions_gets_none_and_a_log_line(caplog):
    with caplog.at_level(logging.INFO, logger=cpu_kernels.__name__):
        assert _kernel("grouped_lora", supported=False).load() is None
    assert "test kernel grouped_lora needs AVX-512; torch's ops" in caplog.text


@pytest.mark.slow
def test_a_kernel_that_does_not_compile_gets_none_and_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(cpu_kernels, "KERNELS_DIR", tmp_path)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    (tmp_path / "broken.cpp").write_text("this is not C++\n")
    with caplog.at_level(logging.WARNING, logger=cpu_kernels.__name__):
        assert _kernel("broken").load() is None
    assert "test kernel broken unavailable; torch's ops" in caplog.text
