# RE: an uncaught exception (the interpreter exits with status 1).
values = [1, 2, 3]
print(values[len(values)])
