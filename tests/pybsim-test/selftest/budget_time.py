# pybsim: max-time 20ms
# Fails: waits 1 s of board time with a 20 ms budget.
import pyb
pyb.delay(1000)
print("not reached")
