# Sourced by the device scripts (gpu_bench.sh, gpu_shell.sh) on a GPU machine that has no
# package registry: the Vulkan loader from the staged .debs when the machine has none, the
# NVIDIA ICD, the Vulkan backend, and the staged release binary where the test binaries
# look for it (they were built under /work/main). Sets V to the staged binary.
if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
V=${STAGE:-.device}/voxmark
root=$(pwd)
if [ ! -e /work/main ] && mkdir -p /work 2>/dev/null; then ln -s "$root" /work/main; fi
mkdir -p target/release && cp "$V" target/release/voxmark
