# Passes: the traceback is part of the output, which matches the .exp file.
print("about to fail")
raise KeyError("expected")
