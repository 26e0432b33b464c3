# Fails: the second line differs from fail_output.py.exp.
print("alpha")
print("beta")
print("gamma")
