# pybsim: max-cycles 2_000_000
# Fails: the loop needs far more than the 2 000 000 cycles of its budget.
n = 0
while True:
    n += 1
