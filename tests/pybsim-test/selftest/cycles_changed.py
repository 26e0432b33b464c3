# Fails: cycles_changed.py.cycles holds half of what this takes, far over the 1 %
# tolerance.
s = 0
for i in range(1000):
    s += i
print(s)
