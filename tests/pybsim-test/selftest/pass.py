# Passes: prints what pass.py.exp holds.
print("hello", 6 * 7)
for i in range(3):
    print("line", i)
