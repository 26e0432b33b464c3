# pybsim: skip needs a host on the USB port
print("never run")
