module qmem.dev/qmem

go 1.26
