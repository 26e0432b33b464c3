# Passes with the wire X1:X2 that pybsim-test.cfg gives it: X2 reads what X1 drives.
import pyb
out = pyb.Pin('X1', pyb.Pin.OUT_PP)
inp = pyb.Pin('X2', pyb.Pin.IN)
out.high()
a = inp.value()
out.low()
b = inp.value()
print("X2 follows X1:", a, b)
