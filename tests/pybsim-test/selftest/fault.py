# Fails: a read from 0x60000000 (FSMC bank 1, nothing mapped) is a bus fault; the
# firmware's fault handler prints its report and sleeps for good.
import machine
print("before the fault")
print(machine.mem32[0x60000000])
print("not reached")
