# -*- Python -*-
# lit configuration for the gecko compiler tests.

import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "GECKO"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["lib", "Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.gecko_obj_root

config.substitutions.append(("%gecko_src", config.gecko_source_dir))
config.substitutions.append(("%gecko_shared", config.gecko_shared_dir))

llvm_config.with_system_environment(["HOME", "TMPDIR", "CUDA_HOME"])
llvm_config.use_default_substitutions()

tool_dirs = [config.gecko_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(
    ["gecko-opt", "gecko-compile", "gecko-run"], tool_dirs)
llvm_config.with_environment("PATH", config.gecko_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
if config.gecko_enable_cuda:
    config.available_features.add("cuda-build")
# The CUDA pipeline runs ptxas (gpu-module-to-binary) from CUDA_HOME.
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
ptxas = os.path.join(cuda_home, "bin", "ptxas")
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
    config.environment["CUDA_HOME"] = cuda_home
# SentencePiece tests train their model with spm_train (package sentencepiece).
if config.gecko_have_sentencepiece and shutil.which("spm_train"):
    config.available_features.add("sentencepiece")
# Golden parity tests need the reference outputs in ../shared/golden.
if os.path.exists(os.path.join(config.gecko_shared_dir, "golden",
                               "golden_tiny_a.safetensors")):
    config.available_features.add("golden")
config.substitutions.append(("%python", "python3"))
