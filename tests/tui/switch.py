# pybsim --tui end-to-end test: reports the USR switch as the script reads it.
# Prints "sw False" at the start, then every change, and ends after a press and a
# release ("switch done").
import pyb
sw = pyb.Switch()
last = sw.value()
print("sw", last)
changes = 0
while changes < 2:
    v = sw.value()
    if v != last:
        last = v
        changes += 1
        print("sw", v)
    pyb.delay(5)
print("switch done")
