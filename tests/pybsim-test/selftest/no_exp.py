# Passes without an .exp file: the script ends without an exception.
x = sum(range(100))
assert x == 4950
