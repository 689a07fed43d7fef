// Package device holds qmem's device models: a 16550A UART, a debug-exit
// port, an MMIO test device, a flash (ROM device with romd mode), a PAM-like
// remap controller and hot-pluggable RAM.
//
// Devices are QOM device types (Register adds them to a registry). They find
// the machine they are plugged into through the Platform interface, which
// the machine object (/machine) implements, create their regions with
// themselves as owner when realized, and map them into the machine's system
// memory or I/O space. They never unmap by hand: unrealizing a device takes
// its regions out of the machine's containers (DESIGN L4).
//
// Callbacks run on vCPU goroutines without the machine lock; each device
// guards its own state. A device whose register changes the memory map (the
// remap controller) takes the machine lock for that change.
package device
