package e2e

// lldpSwitch is the system name the lab's switch agent (lldpd on the
// PXE lab's bridge, testlab.StartLLDPD) announces.
const lldpSwitch = "e2e-tor1"
