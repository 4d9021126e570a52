# Which PyTorch build this machine gets: the newest CUDA build the NVIDIA driver supports, else CPU.
# Same table as `reproml doctor` (cu130 needs driver >= 580, cu128 >= 525.60.13). Override: REPROML_TORCH_BUILD.
nvidia_driver_version() {
  if [ -n "${REPROML_CUDA_DRIVER_VERSION:-}" ]; then
    [ "$REPROML_CUDA_DRIVER_VERSION" = none ] || echo "$REPROML_CUDA_DRIVER_VERSION"
  elif [ "$(uname -s)" = Darwin ]; then
    return 0
  elif [ -r /sys/module/nvidia/version ]; then
    head -n 1 /sys/module/nvidia/version
  elif [ -r /proc/driver/nvidia/version ]; then
    sed -n 's/.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' /proc/driver/nvidia/version | head -n 1
  elif command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1
  fi
}

newest_cuda_build() {
  local version=$1 major minor
  major=${version%%.*}
  minor=${version#*.}
  minor=${minor%%.*}
  case "$major$minor" in *[!0-9]*|"") return 0 ;; esac
  if [ "$major" -ge 580 ]; then
    echo cu130
  elif [ "$major" -gt 525 ] || { [ "$major" -eq 525 ] && [ "$minor" -ge 60 ]; }; then
    echo cu128
  fi
}
