import NIOSSL
print("placeholder")
