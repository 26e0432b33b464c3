# Fails: cycles_faster.py.cycles holds far more than this takes. Faster beyond the 1 %
# tolerance is a change to bless too, like slower.
s = 0
for i in range(1000):
    s += i
print(s)
