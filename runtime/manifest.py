# Frozen into the pybsim firmware.
include("$(MPY_DIR)/extmod/asyncio")
