# The seed scenario s02 (LED blink) for the pybsim --tui tests.
# Blinks the four LEDs in turn; each stays on 50 ms of board time.
# Expect: "start", then "done <ms>" where <ms> is 400 to 410, the elapsed board time.
import pyb
leds = [pyb.LED(i) for i in range(1, 5)]
print("start")
t0 = pyb.millis()
for _ in range(2):
    for led in leds:
        led.on()
        pyb.delay(50)
        led.off()
print("done", pyb.elapsed_millis(t0))
