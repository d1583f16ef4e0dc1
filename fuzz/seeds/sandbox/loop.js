[1,2]
while (true) {}
