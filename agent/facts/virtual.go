package facts

import "strings"

// virtualFacts reports virtual (what Facter called the hypervisor:
// physical, kvm, vmware, virtualbox, hyperv, xen0, xenu, xenhvm,
// parallels, gce, …) and is_virtual, plus lscpu's hypervisor lines.
func (g *gatherer) virtualFacts() error {
	v := g.detectVirtual()
	g.set("virtual", v)
	g.set("is_virtual", boolString(v != "physical" && v != "xen0"))
	ci, err := g.loadCPU()
	if err == nil && ci.hasFlag("hypervisor") {
		vendor := map[string]string{
			"kvm": "KVM", "vmware": "VMware", "hyperv": "Microsoft", "xenhvm": "Xen",
			"xenu": "Xen", "parallels": "Parallels", "gce": "KVM",
		}[v]
		g.set("mk_hw_lscpu_Hypervisor_vendor", vendor)
		g.set("mk_hw_lscpu_Virtualization_type", "full")
	}
	return nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// pciVirtVendors are the PCI vendor IDs of emulated hardware that only
// hypervisors present.
var pciVirtVendors = map[uint16]string{
	0x15ad: "vmware",     // VMware SVGA, vmxnet3, PVSCSI
	0x80ee: "virtualbox", // InnoTek VirtualBox guest service
	0x5853: "xenhvm",     // XenSource platform device
	0x1ab8: "parallels",  // Parallels tools device
	0x1414: "hyperv",     // Microsoft Hyper-V video
	0x1af4: "kvm",        // Red Hat virtio
}

// detectVirtual decides as Facter's virtual fact did, strongest evidence
// first: the firmware's strings, Xen's /proc/xen, the PCI devices only a
// hypervisor presents, the CPU model, then the CPU's hypervisor flag.
func (g *gatherer) detectVirtual() string {
	g.loadPlatform()
	p := &g.plat
	sys, prod := p.system.Manufacturer, p.system.ProductName
	bios, board := p.bios.Vendor, p.board.Manufacturer
	has := func(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
	switch {
	case has(prod, "VMware") || has(sys, "VMware"):
		return "vmware"
	case has(prod, "VirtualBox") || has(bios, "innotek") || has(board, "Oracle Corporation") && has(prod, "VirtualBox"):
		return "virtualbox"
	case has(sys, "Microsoft Corporation") && has(prod, "Virtual Machine"):
		return "hyperv"
	case has(prod, "Parallels") || has(sys, "Parallels"):
		return "parallels"
	case has(sys, "Xen") || has(bios, "Xen") || has(prod, "HVM domU"):
		return "xenhvm"
	case has(prod, "oVirt"):
		return "ovirt"
	case has(prod, "RHEV Hypervisor"):
		return "rhev"
	case has(sys, "Google") || has(prod, "Google Compute Engine"):
		return "gce"
	case has(sys, "QEMU") || has(prod, "KVM") || has(sys, "Bochs") || has(prod, "OpenStack") || has(sys, "Amazon EC2"):
		return "kvm"
	}
	if isDir(g.t, "proc/xen") {
		if strings.Contains(readString(g.t, "proc/xen/capabilities"), "control_d") {
			return "xen0"
		}
		return "xenu"
	}
	if readString(g.t, "sys/hypervisor/type") == "xen" {
		return "xenu"
	}
	if err := g.loadPCI(); err == nil {
		for _, addr := range g.pciAddrs() {
			if v, ok := pciVirtVendors[g.pci[addr].vendor]; ok {
				return v
			}
		}
	}
	ci, err := g.loadCPU()
	if err == nil {
		m := ci.modelName(0)
		if strings.Contains(m, "QEMU Virtual CPU") || strings.Contains(m, "Common KVM processor") {
			return "kvm"
		}
		if ci.hasFlag("hypervisor") {
			if isDir(g.t, "sys/bus/vmbus") {
				return "hyperv"
			}
			return "unknown"
		}
	}
	return "physical"
}
