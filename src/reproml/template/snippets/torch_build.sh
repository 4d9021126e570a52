# Generated from reproml.gpu.CUDA_TABLE: the CUDA builds and the minimum driver each needs.
reproml_cuda_build_driver() {
    for _v in "${REPROML_CUDA_DRIVER_VERSION:-}" "${UV_CUDA_DRIVER_VERSION:-}"; do
        if [ -n "$_v" ]; then
            [ "$_v" = none ] || printf '%s\n' "$_v"
            return 0
        fi
    done
    if [ -r /sys/module/nvidia/version ]; then
        head -n 1 /sys/module/nvidia/version
    elif [ -r /proc/driver/nvidia/version ]; then
        sed -n 's/^NVRM version:.*[[:space:]]\([0-9][0-9]*\.[0-9][0-9]*\(\.[0-9][0-9]*\)\{0,1\}\)[[:space:]].*/\1/p' \
            /proc/driver/nvidia/version | head -n 1
    elif command -v nvidia-smi >/dev/null 2>&1; then
        if command -v timeout >/dev/null 2>&1; then _t="timeout 5"; else _t=""; fi
        $_t nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' \r'
    fi
}
# reproml_cuda_build_ge A B: is version A >= version B (numeric, dot-separated, missing parts count as 0)?
reproml_cuda_build_ge() {
    _a=$1 _b=$2
    while [ -n "$_a$_b" ]; do
        _x=${_a%%.*} _y=${_b%%.*}
        _x=${_x:-0} _y=${_y:-0}
        case "$_x$_y" in *[!0-9]*) return 1 ;; esac
        [ "$_x" -gt "$_y" ] && return 0
        [ "$_x" -lt "$_y" ] && return 1
        case "$_a" in *.*) _a=${_a#*.} ;; *) _a="" ;; esac
        case "$_b" in *.*) _b=${_b#*.} ;; *) _b="" ;; esac
    done
    return 0
}
# reproml_cuda_build_min BUILD: the minimum driver of a CUDA build (fails for anything else).
reproml_cuda_build_min() {
    case "$1" in
        cu132) echo 580 ;;
        cu130) echo 580 ;;
        cu126) echo 525.60.13 ;;
        *) return 1 ;;
    esac
}
# reproml_cuda_build_supports BUILD: can this machine's driver run BUILD (cpu: always; no driver: no CUDA build)?
reproml_cuda_build_supports() {
    [ "$1" = cpu ] && return 0
    _min=$(reproml_cuda_build_min "$1") || return 1
    _drv=$(reproml_cuda_build_driver)
    case "$_drv" in ''|*[!0-9.]*) return 1 ;; esac
    reproml_cuda_build_ge "$_drv" "$_min"
}
# reproml_cuda_build ACCELERATOR: prints cpu or the CUDA build (auto/cuda: newest the driver supports; cuXXX: as asked).
reproml_cuda_build() {
    case "$(uname -s)" in Linux|MINGW*|MSYS*|CYGWIN*) ;; *) echo cpu; return 0 ;; esac
    case "$1" in
        cpu) echo cpu; return 0 ;;
        auto|cuda) ;;
        *) echo "$1"; return 0 ;;
    esac
    _drv=$(reproml_cuda_build_driver)
    # auto: cpu without a usable driver. cuda: cu130 without a driver (CUDA wheels before one is
    # installed), cu126 with one too old for every build (the least driver upgrade).
    if [ "$1" = cuda ]; then _none=cu130 _old=cu126; else _none=cpu _old=cpu; fi
    case "$_drv" in ''|*[!0-9.]*) echo "$_none"; return 0 ;; esac
    for _build in cu130 cu126; do
        if reproml_cuda_build_ge "$_drv" "$(reproml_cuda_build_min "$_build")"; then echo "$_build"; return 0; fi
    done
    echo "$_old"
}
