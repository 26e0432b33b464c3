# Fails: an uncaught exception (there is no .exp), shown with its traceback.
def inner():
    raise ValueError("deliberate")
print("before")
inner()
