# Sourced by the scripts: the environment voxmark's GPU tests and tools expect.
# wgpu falls back to GL without WGPU_BACKEND; voxmark asks for Vulkan explicitly so that on
# a machine without a GPU it runs on Mesa's lavapipe.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/voxmark-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export PYDICOM_TEST_FILES="${PYDICOM_TEST_FILES:-$("$ROOT/.venv/bin/python" -c 'import pydicom,os;print(os.path.join(os.path.dirname(pydicom.__file__),"data","test_files"))' 2>/dev/null || true)}"
