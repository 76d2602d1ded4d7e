Ã(
c
exptrain.py*--epochs*402cpuB&
env"numpy"torch	
SEED7"SEEDR
owneralice‚
