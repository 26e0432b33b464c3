# Frozen into the pybsim firmware.
include("$(MPY_DIR)/extmod/asyncio")
# The small test modules that MicroPython's ports/qemu freezes for its thumb tests
# (tests/ports/qemu: asm_test, native_test, viper_test import them), from the pinned
# source tree, so those tests run on the emulated board too.
freeze("$(MPY_DIR)/ports/qemu/test-frzmpy", ("frozen_asm_thumb.py", "frozen_const.py", "frozen_viper.py", "native_frozen_align.py"))
